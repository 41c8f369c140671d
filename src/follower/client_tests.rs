use super::*;

#[test]
fn plain_http_and_https_masters_both_get_a_client() {
    // http:// skips the platform's root certificates (`tls_certs_only` with none); https://
    // keeps the platform verifier. Either way the builder must accept its configuration.
    for base in [
        "http://127.0.0.1:1",
        "http://[::1]:17342/",
        "https://master.example:443",
    ] {
        let client = MasterClient::with_timeout(base, Some("t".into()), Duration::from_millis(200));
        assert!(client.is_ok(), "{base}: {:?}", client.err());
    }
}
