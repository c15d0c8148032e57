// How every c-toxcore instance of the tests and benchmarks is set up (tests/interop/tox_harness,
// bench/tox_compare): the project's network policy for c-toxcore in one place, and the RAII
// owners of its handles.
#pragma once

#include <memory>

#include <tox/tox.h>

namespace netcrypto::testing {

struct ToxOptionsDeleter {
    void operator()(Tox_Options* o) const { tox_options_free(o); }
};
struct ToxDeleter {
    void operator()(Tox* t) const { tox_kill(t); }
};
using ToxOptionsPtr = std::unique_ptr<Tox_Options, ToxOptionsDeleter>;
using ToxPtr = std::unique_ptr<Tox, ToxDeleter>;

/// New options under the test policy: UDP on, IPv6 off, local (LAN) discovery off, no proxy,
/// no TCP relay (TCP port 0), no hole punching. Bootstrapping only to 127.0.0.1 is the caller's
/// part (and the loopback guard refuses anything else). Null if c-toxcore cannot allocate.
inline ToxOptionsPtr loopback_tox_options(Tox_Err_Options_New* error = nullptr) {
    ToxOptionsPtr o(tox_options_new(error));
    if (!o) return o;
    tox_options_set_udp_enabled(o.get(), true);
    tox_options_set_ipv6_enabled(o.get(), false);
    tox_options_set_local_discovery_enabled(o.get(), false);
    tox_options_set_proxy_type(o.get(), TOX_PROXY_TYPE_NONE);
    tox_options_set_tcp_port(o.get(), 0);
    tox_options_set_hole_punching_enabled(o.get(), false);
    return o;
}

/// "none", "tcp" or "udp", as the JSON events of both programs spell it.
inline const char* connection_name(Tox_Connection c) {
    switch (c) {
        case TOX_CONNECTION_NONE:
            return "none";
        case TOX_CONNECTION_TCP:
            return "tcp";
        case TOX_CONNECTION_UDP:
            return "udp";
    }
    return "?";
}

}  // namespace netcrypto::testing
