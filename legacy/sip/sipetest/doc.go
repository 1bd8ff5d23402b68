// Package sipetest signs a real, independent SIP client — pidgin-sipe, the
// open-source OCS/Lync plugin for libpurple — in to a SIP server under test.
// The client is driven headless through bitlbee (the libpurple build,
// Debian package bitlbee-libpurple), which exposes libpurple as an IRC
// server.
//
// # How it works
//
// [Start] creates a socketpair and runs "bitlbee -I -c <dir>/bitlbee.conf
// -d <dir>/bitlbee" with one end as its standard input and output: in
// inetd mode bitlbee speaks IRC on stdin when stdin is a socket. No daemon,
// no system configuration and no port are involved; the configuration file
// (RunMode = Inetd, AuthMode = Open, ConfigDir = <dir>/bitlbee, MotdFile =
// /dev/null, PingInterval = PingTimeOut = 0),
// HOME and XDG directories all live under the given directory, LC_ALL=C
// keeps the messages in English (pidgin-sipe ships translations), and the
// account is never saved (nobody "register"s), so every Client starts
// fresh (Start also wipes the subdirectories it uses). libpurple keeps its
// state in <dir>/bitlbee/purple/<nick>/. bitlbee runs in its own process
// group with SIGKILL as parent-death signal; [Client.Close] sends "account
// sipe off" and QUIT, waits for the exit (SIGTERM after 3 s), kills whatever
// is left in the group and reaps bitlbee. As root bitlbee complains
// "ERROR :Warning: BitlBee is running with root privileges. Why?"; that is
// harmless.
//
// The Go side is a tiny IRC client: NICK/USER, wait for the automatic join
// of the control channel &bitlbee (numeric 366), then root commands sent as
// "PRIVMSG &bitlbee :<command>". After each command it sends "PING :<token>"
// and waits for the PONG: bitlbee handles its input in order, so every
// reply to the command arrives before the PONG. The commands are
//
//	account add sipe <signin>[,<DOMAIN\user>] <password>
//	  -> "Account successfully added with tag sipe"
//	account sipe set username          (read back to check the quoting)
//	account sipe set server 127.0.0.1:PORT    -> "server = `127.0.0.1:PORT'"
//	account sipe set transport tcp|tls        -> "transport = `tls'"
//	account sipe set authentication ntlm      -> "authentication = `ntlm'"
//	account sipe set auto_reconnect false     -> "auto_reconnect = `false'"
//	account sipe on
//
// "account sipe set" with no key lists all options. The sipe (1.25) ones
// are allow-web-photo, authentication (auto, ntlm, krb5, tls-dsk; auto by
// default — we pick ntlm because the server only offers NTLM), dont-publish,
// email, email_login, email_password, email_url, encryption-policy,
// groupchat_user, rdp_client, server (host:port; empty means DNS
// discovery), sso, transport (auto, tls, tcp) and useragent; the rest
// (auto_connect, auto_reconnect, away, display_name, handle_unknown,
// nick_format, nick_source, password, status, tag, username) are bitlbee's.
// A value bitlbee does not accept for a list option is silently ignored and
// the old value echoed, so Start compares every echo with what it set.
// bitlbee's command parser treats a backslash as an escape ("LAB\alice"
// arrives as "LABalice") and splits on spaces; Start escapes backslashes,
// spaces and quotes. The sign-in address and the optional login are joined
// with a comma into the purple user name, as pidgin-sipe expects. An empty
// password is refused: libpurple would silently wait for one to be typed
// and "account on" would do nothing at all.
//
// pidgin-sipe then connects to the server and sends, as its first request,
//
//	REGISTER sip:<domain of the sign-in address> SIP/2.0
//	Via: SIP/2.0/tcp 127.0.0.1:<port>;branch=z9hG4bK…    (tls with TLS)
//	User-Agent: Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)
//	Event: registration
//	ms-keep-alive: UAC;hop-hop=yes
//	…
//
// # What bitlbee says
//
// Progress and errors arrive from root in &bitlbee, prefixed with the
// account tag:
//
//	sipe - Logging in: Connecting
//	sipe - Logging in: Logged in                                   (success)
//	sipe - Login error: You have been rejected by the server: no reason given
//	                                          (REGISTER answered 403 Forbidden)
//	sipe - Login error: Could not connect              (connection refused)
//	sipe - Login error: SSL peer presented an invalid certificate
//	sipe - Logging in: Signing off..
//	sipe - Error: Server has disconnected        (after a successful login)
//
// "Logged in" means the purple connection is up, which pidgin-sipe declares
// as soon as a REGISTER gets 200 OK (a fake server answering 200 OK to the
// unauthenticated REGISTER suffices; signatures are only checked once an NTLM
// security association exists).
//
// [Client.WaitLoggedIn] returns nil on "Logged in" and a [*SignInError] with
// the text after "Login error: " (or "Error: ") on failure. pidgin-sipe's
// other sign-in failures include "Authentication failed", "Incompatible
// authentication scheme chosen" and "Failed to authenticate to server".
// With auto_reconnect left on bitlbee would retry every few seconds
// ("Reconnecting in 5 seconds.."); Start turns it off so a failure stays a
// failure.
//
// # TLS trust
//
// The libpurple here (2.14.12, Debian) has only the NSS SSL plugin
// (ssl-nss.so); it accepts any certificate during the handshake and then
// verifies the chain itself with its "tls_cached" verifier. That verifier
// trusts (1) a certificate cached earlier for the same host under
// <purple user dir>/certificates/x509/tls_peers/ — always empty here, since
// every Client starts with a fresh directory and the harness never accepts
// a certificate — and (2) CAs from its CA pool, which it loads from the
// compiled-in directories /etc/ssl/certs (every *.pem and *.crt file) and
// /usr/share/purple/ca-certs. No environment variable, preference or
// per-user directory changes that list (NSS runs without a database; tried
// here: SSL_CERT_FILE and SSL_CERT_DIR pointing at the right CA still get
// the question below), and bitlbee's own CAfile setting only covers
// bitlbee's native (GnuTLS) protocols.
//
// So for Transport "tls" Start runs bitlbee in a private mount namespace
// (CLONE_NEWNS; as a non-root user together with a user namespace mapping
// the caller to root inside it) and bind-mounts a directory holding only
// the given CA (ca/sipetest-ca.pem) over /etc/ssl/certs and over
// /usr/share/purple/ca-certs if that exists: a shell sets "mount
// --make-rprivate /" first, so nothing leaks into the host, then execs
// bitlbee. The client therefore trusts exactly that CA. The server name is
// checked as well (the certificate must name the host in Server, for
// 127.0.0.1 an IP address SAN). A certificate that does not verify makes
// libpurple ask
//
//	New request: Request: SSL Certificate Verification
//	Accept certificate for 127.0.0.1?
//	The certificate for 127.0.0.1 could not be validated.
//	The certificate is not trusted because no certificate that can verify it is currently trusted.
//	You can use the yes/no commands to accept/reject this request.
//
// (the "yes"/"no" are IRC-bold, \x02yes\x02) and the harness answers "no"
// at once (never "yes": an accepted certificate would be cached in
// tls_peers and trusted from then on), after which bitlbee prints "sipe -
// Login error: SSL peer presented an invalid certificate": no REGISTER is
// sent. Note that TLS 1.3 lets the server side see a completed handshake
// before the client has judged the certificate; the refusal shows as the
// client closing the connection without sending anything. [TLSAvailable]
// reports whether the namespaces can be made here.
//
// # Versions found here
//
// bitlbee 3.6-1.3 (BitlBee-LIBPURPLE, configured with --purple=1),
// bitlbee-libpurple 3.6-1.3, libpurple0 2.14.12-1, pidgin-sipe
// 1.25.0-2.1+b1 (plugin /usr/lib/purple-2/libsipe.so).
//
// # A client bug to steer around
//
// libpurple 2.14's circular send buffer (growing in 256-byte steps) sends a
// message's tail before its head when the bytes sent so far ended exactly
// at the end of the buffer: pidgin-sipe's first REGISTER being exactly 768
// bytes is enough. A server then sees a message starting mid-header and
// must refuse it. Tests choose sign-in addresses that keep the first
// REGISTER away from a multiple of 256 bytes.
package sipetest
