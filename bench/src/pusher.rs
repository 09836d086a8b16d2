//! Just enough of the Pusher protocol for load: signed HTTP publishes and WebSocket subscribers.

use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{client_async, MaybeTlsStream, WebSocketStream};

/// Where the server is and which app to use.
#[derive(Clone, Debug, clap::Args)]
pub struct Target {
    /// Server address (host:port) for both WebSocket and HTTP.
    #[arg(long, default_value = "127.0.0.1:6001")]
    pub server: SocketAddr,
    #[arg(long)]
    pub app_id: String,
    #[arg(long)]
    pub key: String,
    #[arg(long)]
    pub secret: String,
    /// Source addresses to spread client sockets over (each has its own ephemeral ports).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    pub source_ips: Vec<IpAddr>,
}

/// The signed path and query of `POST /apps/{id}/events` for `body`.
pub fn signed_events_path(t: &Target, body: &[u8], unix_secs: u64) -> String {
    let path = format!("/apps/{}/events", t.app_id);
    let query = format!(
        "auth_key={}&auth_timestamp={unix_secs}&auth_version=1.0&body_md5={}",
        t.key,
        hex::encode(Md5::digest(body))
    );
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(t.secret.as_bytes()).expect("any key length");
    mac.update(format!("POST\n{path}\n{query}").as_bytes());
    format!(
        "{path}?{query}&auth_signature={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The `auth` of a private or presence subscription: `key:HMAC-SHA256(secret, socket_id:channel[:data])`.
pub fn channel_auth(key: &str, secret: &str, socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{socket_id}:{channel}").as_bytes());
    if let Some(data) = channel_data {
        mac.update(format!(":{data}").as_bytes());
    }
    format!("{key}:{}", hex::encode(mac.finalize().into_bytes()))
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to the app from source address `ip`.
pub async fn connect(t: &Target, ip: IpAddr) -> anyhow::Result<Socket> {
    connect_to(t.server, &t.key, ip).await
}

/// Opens a WebSocket to app `key` on `server` from source address `ip`.
pub async fn connect_to(server: SocketAddr, key: &str, ip: IpAddr) -> anyhow::Result<Socket> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/app/{key}?protocol=7&client=herald-bench&version=0.1");
    let (ws, _) = client_async(url, MaybeTlsStream::Plain(stream)).await?;
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_pusher_worked_example() {
        let t = Target {
            server: "127.0.0.1:6001".parse().unwrap(),
            app_id: "3".into(),
            key: "278d425bdf160c739803".into(),
            secret: "7ad3773142a6692b25b8".into(),
            source_ips: vec![],
        };
        assert_eq!(
            channel_auth(
                "278d425bdf160c739803",
                "7ad3773142a6692b25b8",
                "1234.1234",
                "private-foobar",
                None
            ),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
            "the private-channel example of the Pusher docs"
        );
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        let url = signed_events_path(&t, body, 1353088179);
        assert!(
            url.ends_with("auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"),
            "{url}"
        );
    }
}
