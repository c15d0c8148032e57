// How a connection reaches its peer. Today one kind: a UDP address. A TCP relay (the relay
// connection plus the peer's connection id on it) becomes a second alternative here; the
// connection only ever calls send_over(), and its data stream does not depend on the route,
// so a stream can move from one route to another without losing or reordering data.
#pragma once

#include <span>
#include <variant>

#include <netcrypto/address.hpp>

namespace netcrypto::core {

/// Direct UDP to the peer's address.
struct UdpRoute {
    Address address;
    friend bool operator==(const UdpRoute&, const UdpRoute&) = default;
};

using Route = std::variant<UdpRoute>;

/// The UDP address of a route, or nullptr when it has none (a relay route).
inline const Address* udp_address(const Route& r) {
    const auto* udp = std::get_if<UdpRoute>(&r);
    return udp != nullptr ? &udp->address : nullptr;
}

}  // namespace netcrypto::core
