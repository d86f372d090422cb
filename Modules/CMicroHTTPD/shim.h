#ifndef CMICROHTTPD_SHIM_H
#define CMICROHTTPD_SHIM_H
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

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

/* SHA-1 for the WebSocket handshake through GnuTLS (a libmicrohttpd dependency);
   the algorithm constant is an enum Swift would need spelled out. */
static inline int CMicroHTTPD_sha1(const void *data, size_t size, void *digest20) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA1, data, size, digest20);
}

#endif
