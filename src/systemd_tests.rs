//! Tests of the systemd module: the variables' parsing (pure), adopting sockets, notifying.

use super::*;

#[test]
fn listen_env_for_us_gives_descriptors_from_3_with_names() {
    let got = parse_listen_env(Some("42"), Some("3"), Some("http:https"), 42).unwrap();
    assert_eq!(got, vec![(3, Some("http".to_owned())), (4, Some("https".to_owned())), (5, None)]);
    // Empty names are no names; names past the count are ignored.
    let got = parse_listen_env(Some("42"), Some("2"), Some(":b:c"), 42).unwrap();
    assert_eq!(got, vec![(3, None), (4, Some("b".to_owned()))]);
    assert_eq!(parse_listen_env(Some("42"), Some("1"), None, 42).unwrap(), vec![(3, None)]);
    assert_eq!(parse_listen_env(Some("42"), Some("0"), None, 42).unwrap(), vec![]);
}

#[test]
fn listen_env_for_another_process_or_absent_gives_nothing() {
    assert_eq!(parse_listen_env(Some("41"), Some("2"), None, 42).unwrap(), vec![]);
    assert_eq!(parse_listen_env(None, Some("2"), None, 42).unwrap(), vec![]);
    assert_eq!(parse_listen_env(Some("42"), None, None, 42).unwrap(), vec![]);
}

#[test]
fn malformed_listen_env_is_refused() {
    assert!(parse_listen_env(Some("x"), Some("1"), None, 42).is_err());
    assert!(parse_listen_env(Some("42"), Some("-1"), None, 42).is_err());
    assert!(parse_listen_env(Some("42"), Some("one"), None, 42).is_err());
    assert!(parse_listen_env(Some("42"), Some("100000"), None, 42).is_err());
}

#[test]
fn watchdog_env() {
    assert_eq!(parse_watchdog(Some("200000"), None, 7).unwrap(), Some(Duration::from_millis(200)));
    assert_eq!(parse_watchdog(Some("200000"), Some("7"), 7).unwrap(), Some(Duration::from_millis(200)));
    assert_eq!(parse_watchdog(Some("200000"), Some(""), 7).unwrap(), Some(Duration::from_millis(200)));
    assert_eq!(parse_watchdog(Some("200000"), Some("8"), 7).unwrap(), None);
    assert_eq!(parse_watchdog(Some("0"), None, 7).unwrap(), None);
    assert_eq!(parse_watchdog(None, Some("7"), 7).unwrap(), None);
    assert!(parse_watchdog(Some("soon"), None, 7).is_err());
    assert!(parse_watchdog(Some("1"), Some("me"), 7).is_err());
}

#[test]
fn adopt_takes_a_listening_tcp_socket_only() {
    let listening = Socket::from(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let l = adopt(listening).unwrap();
    // Non-blocking now: no connection waits, so accept says so at once.
    assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);

    let bound = Socket::new(socket2::Domain::IPV4, Type::STREAM, None).unwrap();
    bound.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    assert!(adopt(bound).is_err(), "bound, not listening");
    let udp = Socket::from(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
    assert!(adopt(udp).is_err(), "a datagram socket");
    let (unix, _) = std::os::unix::net::UnixStream::pair().unwrap();
    assert!(adopt(Socket::from(OwnedFd::from(unix))).is_err(), "a unix socket");
}

#[test]
fn notifier_sends_to_a_path_and_an_abstract_name() {
    let dir = std::env::temp_dir().join(format!("hsys-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let manager = UnixDatagram::bind(&path).unwrap();
    Notifier::new(path.to_str().unwrap()).unwrap().notify("READY=1\nSTATUS=ok").unwrap();
    let mut buf = [0u8; 64];
    let n = manager.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=ok");
    std::fs::remove_dir_all(&dir).unwrap();

    use std::os::linux::net::SocketAddrExt;
    let name = format!("hsys-notify-test-{}", std::process::id());
    let manager = UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    Notifier::new(&format!("@{name}")).unwrap().notify("WATCHDOG=1").unwrap();
    let n = manager.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"WATCHDOG=1");
}
