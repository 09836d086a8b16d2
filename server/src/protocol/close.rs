//! Close codes of protocol v7, each with the message a client sees in the `pusher:error` frame
//! sent before the close frame.
//!
//! Ranges (Pusher): 4000-4099 do not reconnect unchanged, 4100-4199 reconnect after backing off,
//! 4200-4299 reconnect at once, 4300-4399 other.

/// Why the server ends a connection. The numeric value is the WebSocket close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum CloseCode {
    /// The key in `/app/{key}` matches no app.
    UnknownApp = 4001,
    /// The app (or its tenant) is disabled.
    AppDisabled = 4003,
    /// The app already has its maximum number of connections.
    AppOverQuota = 4004,
    /// A WebSocket upgrade on a path that is not `/app/{key}`.
    PathNotFound = 4005,
    /// `protocol` is not an integer.
    InvalidVersion = 4006,
    /// `protocol` is an integer this server does not speak.
    UnsupportedProtocol = 4007,
    /// No `protocol` query parameter.
    NoProtocol = 4008,
    /// Origin not allowed, or the app terminated the user's connections.
    Unauthorized = 4009,
    /// The node is at capacity, or the client could not keep up with its outbound queue.
    OverCapacity = 4100,
    /// The server is shutting down: reconnect, another node will take the connection.
    Reconnect = 4200,
    /// The client did not answer a ping in time.
    PongTimeout = 4201,
    /// The client sent client events faster than the app allows.
    ClientEventRate = 4301,
    /// A WebSocket message over the server's size limit (the standard WebSocket code).
    MessageTooBig = 1009,
}

impl CloseCode {
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The default human message for this code.
    pub fn message(self) -> &'static str {
        match self {
            CloseCode::UnknownApp => "Application does not exist",
            CloseCode::AppDisabled => "Application disabled",
            CloseCode::AppOverQuota => "Application is over connection quota",
            CloseCode::PathNotFound => "Path not found: connect to /app/{key}",
            CloseCode::InvalidVersion => "Invalid version string format: protocol must be an integer",
            CloseCode::UnsupportedProtocol => "Unsupported protocol version: use protocol=7",
            CloseCode::NoProtocol => "No protocol version supplied: add protocol=7 to the URL",
            CloseCode::Unauthorized => "Connection is unauthorized",
            CloseCode::OverCapacity => "Over capacity",
            CloseCode::Reconnect => "Server is shutting down, reconnect",
            CloseCode::PongTimeout => "Pong reply not received",
            CloseCode::ClientEventRate => "Client event rejected due to rate limit",
            CloseCode::MessageTooBig => "Message too big",
        }
    }

    pub fn from_code(code: u16) -> Option<Self> {
        use CloseCode::*;
        [
            UnknownApp,
            AppDisabled,
            AppOverQuota,
            PathNotFound,
            InvalidVersion,
            UnsupportedProtocol,
            NoProtocol,
            Unauthorized,
            OverCapacity,
            Reconnect,
            PongTimeout,
            ClientEventRate,
            MessageTooBig,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

/// The lowest and highest protocol versions this server accepts. Pusher dropped 1-3.
pub const MIN_PROTOCOL: u32 = 4;
pub const MAX_PROTOCOL: u32 = 7;

/// Checks the `protocol` query parameter of a connection URL.
pub fn check_protocol(raw: Option<&str>) -> Result<u32, CloseCode> {
    let raw = raw.ok_or(CloseCode::NoProtocol)?;
    let version: u32 = raw.trim().parse().map_err(|_| CloseCode::InvalidVersion)?;
    if (MIN_PROTOCOL..=MAX_PROTOCOL).contains(&version) {
        Ok(version)
    } else {
        Err(CloseCode::UnsupportedProtocol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_parameter_rules() {
        assert_eq!(check_protocol(Some("7")), Ok(7));
        assert_eq!(check_protocol(None), Err(CloseCode::NoProtocol));
        assert_eq!(check_protocol(Some("abc")), Err(CloseCode::InvalidVersion));
        assert_eq!(check_protocol(Some("2")), Err(CloseCode::UnsupportedProtocol));
        assert_eq!(check_protocol(Some("8")), Err(CloseCode::UnsupportedProtocol));
    }

    #[test]
    fn codes_round_trip() {
        for code in 4000..4400 {
            if let Some(c) = CloseCode::from_code(code) {
                assert_eq!(c.code(), code);
                assert!(!c.message().is_empty());
            }
        }
        assert_eq!(CloseCode::from_code(4201), Some(CloseCode::PongTimeout));
    }
}
