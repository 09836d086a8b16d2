//! `pusher:signin`: user authentication, the watchlist, and the user's server-to-user channel.

use std::sync::Arc;

use serde::Deserialize;

use super::session::{Session, SignedIn};
use crate::lifecycle::{redact, EventKind, LifecycleEvent};
use crate::protocol::frame;
use crate::protocol::name::check_user_id;
use crate::protocol::signature::{check_auth, signin_string};

/// Watched user ids a connection may have; more are dropped with a 4302 error.
pub const MAX_WATCHLIST: usize = 100;

#[derive(Deserialize)]
struct UserData {
    id: String,
    #[serde(default)]
    watchlist: Vec<String>,
}

impl Session {
    pub(super) fn signin(&mut self, auth: &str, user_data: &str) {
        if self.app().is_none() {
            return;
        }
        let signed = signin_string(self.conn.socket_id.as_str(), user_data);
        if let Err(e) = check_auth(auth, &self.conn.key, &self.secret, &signed) {
            return self.refuse_signin(&e.to_string());
        }
        let data: UserData = match serde_json::from_str(user_data) {
            Ok(d) => d,
            Err(e) => {
                return self.refuse_signin(&format!("Invalid user_data: it must be a JSON object with an id ({e})"))
            }
        };
        if check_user_id(&data.id).is_err() {
            return self.refuse_signin("Invalid user_data: id must be a non-empty string of [A-Za-z0-9_-=@,.;]");
        }
        if let Some(current) = &self.user {
            if *current.id != *data.id {
                return self.refuse_signin("This connection is already signed in as a different user");
            }
            return self.reply(frame::signin_success(user_data));
        }
        let over = data.watchlist.len() > MAX_WATCHLIST;
        let watchlist: Vec<Arc<str>> = data
            .watchlist
            .iter()
            .take(MAX_WATCHLIST)
            .map(|s| Arc::from(s.as_str()))
            .collect();
        let id: Arc<str> = Arc::from(data.id.as_str());
        self.reply(frame::signin_success(user_data));
        if over {
            let msg = "Watchlist limit exceeded. Only the first 100 user IDs are accepted.";
            self.reply(frame::error(Some(4302), msg, None));
        }
        self.state.hub.sign_in(&self.conn, &id, &watchlist);
        self.record(LifecycleEvent::new(EventKind::Signin, &self.conn.app_id).user(Some(&id)));
        self.user = Some(SignedIn { id, watchlist });
        self.report_membership();
    }

    /// Refuses a signin: the client gets a `pusher:error`, the lifecycle log says why.
    fn refuse_signin(&mut self, message: &str) {
        self.error(message, None);
        self.record(LifecycleEvent::new(EventKind::SigninRefused, &self.conn.app_id).reason(redact(message)));
    }
}
