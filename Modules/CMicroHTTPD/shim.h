#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <stdlib.h>

/* MHD_start_daemon is variadic, which Swift cannot call: this wrapper passes
   every option through one MHD_OPTION_ARRAY built on the Swift side. */
static inline struct MHD_Daemon *CMicroHTTPD_start(unsigned int flags,
                                                   MHD_AccessHandlerCallback handler,
                                                   void *handler_cls,
                                                   struct MHD_OptionItem *options) {
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, handler_cls,
                            MHD_OPTION_ARRAY, options, MHD_OPTION_END);
}

/* MHD_upgrade_action is variadic too. */
static inline enum MHD_Result CMicroHTTPD_upgrade_close(struct MHD_UpgradeResponseHandle *urh) {
    return MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* MHD_get_connection_info is variadic: the peer address of a connection. */
static inline const struct sockaddr *CMicroHTTPD_client_address(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info ? info->client_addr : NULL;
}

/* MHD_get_connection_info again: the connection's socket (-1 if unknown), which
   the server watches for a hang-up while a stream is suspended. */
static inline int CMicroHTTPD_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}

/* And the pointer the connection-notify callback left for the connection. */
static inline void *CMicroHTTPD_socket_context(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

/* SHA-1 for the WebSocket handshake through GnuTLS (a libmicrohttpd dependency);
   the algorithm constant is an enum Swift would need spelled out. */
static inline int CMicroHTTPD_sha1(const void *data, size_t size, void *digest20) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA1, data, size, digest20);
}

/* SHA-256 (token and session hashes). */
static inline int CMicroHTTPD_sha256(const void *data, size_t size, void *digest32) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, size, digest32);
}

/* Random bytes for tokens and session ids (GnuTLS's generator reads getrandom). */
static inline int CMicroHTTPD_random(void *buffer, size_t size) {
    return gnutls_rnd(GNUTLS_RND_KEY, buffer, size);
}

/* The peer's IP address as text ("127.0.0.1", "::1"); 0 on success. */
static inline int CMicroHTTPD_client_address_text(struct MHD_Connection *connection, char *out, size_t size) {
    const struct sockaddr *addr = CMicroHTTPD_client_address(connection);
    if (addr == NULL) return -1;
    if (addr->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, out, (socklen_t)size) ? 0 : -1;
    if (addr->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
        /* An IPv4 client on a dual-stack socket reads as its IPv4 address. */
        if (IN6_IS_ADDR_V4MAPPED(a)) return inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)size) ? 0 : -1;
        return inet_ntop(AF_INET6, a, out, (socklen_t)size) ? 0 : -1;
    }
    return -1;
}

/* --- TLS: one certificate chain and key, swapped while serving ------------------
   libmicrohttpd takes the server's certificate from a GnuTLS retrieve callback
   (MHD_OPTION_HTTPS_CERT_CALLBACK) at each handshake instead of fixed PEM
   buffers, so a reload only changes what that callback hands out. */

#define CMICROHTTPD_TLS_MAX_CHAIN 16

typedef struct CMicroHTTPD_TLSIdentity {
    gnutls_pcert_st certs[CMICROHTTPD_TLS_MAX_CHAIN];
    unsigned int count;
    gnutls_privkey_t key;
} CMicroHTTPD_TLSIdentity;

typedef gnutls_certificate_retrieve_function2 *CMicroHTTPD_cert_retrieve;

/* Parses a PEM chain and key, checks that they belong together, and returns a new
   identity in *out (0) or a GnuTLS error code (< 0). */
static inline int CMicroHTTPD_tls_load(const void *cert, size_t cert_size, const void *key, size_t key_size,
                                       CMicroHTTPD_TLSIdentity **out) {
    gnutls_datum_t c = { (unsigned char *)cert, (unsigned int)cert_size };
    gnutls_datum_t k = { (unsigned char *)key, (unsigned int)key_size };
    gnutls_certificate_credentials_t check;
    int rc = gnutls_certificate_allocate_credentials(&check);
    if (rc < 0) return rc;
    rc = gnutls_certificate_set_x509_key_mem(check, &c, &k, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(check);
    if (rc < 0) return rc;
    CMicroHTTPD_TLSIdentity *id = calloc(1, sizeof *id);
    if (id == NULL) return GNUTLS_E_MEMORY_ERROR;
    id->count = CMICROHTTPD_TLS_MAX_CHAIN;
    rc = gnutls_pcert_list_import_x509_raw(id->certs, &id->count, &c, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) { free(id); return rc; }
    rc = gnutls_privkey_init(&id->key);
    if (rc >= 0) rc = gnutls_privkey_import_x509_raw(id->key, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        if (id->key) gnutls_privkey_deinit(id->key);
        for (unsigned int i = 0; i < id->count; i++) gnutls_pcert_deinit(&id->certs[i]);
        free(id);
        return rc;
    }
    *out = id;
    return 0;
}

/* What the retrieve callback hands GnuTLS (which neither copies nor frees it). */
static inline int CMicroHTTPD_tls_select(CMicroHTTPD_TLSIdentity *id, gnutls_pcert_st **pcert,
                                         unsigned int *pcert_length, gnutls_privkey_t *pkey) {
    if (id == NULL || pcert == NULL || pcert_length == NULL || pkey == NULL) return -1;
    *pcert = id->certs;
    *pcert_length = id->count;
    *pkey = id->key;
    return 0;
}

#endif
