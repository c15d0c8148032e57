#include "sim/endpoint_node.hpp"

#include <algorithm>

#include "sim/heap_counter.hpp"

namespace netcrypto::sim {

namespace {
KeyPair keys_from(SeededRng& rng) { return KeyPair::generate(rng); }
}  // namespace

std::string transition_name(const StatusChanged& e) {
    std::string s(to_string(e.from));
    s += "->";
    s += to_string(e.to);
    return s;
}

EndpointNode::EndpointNode(std::uint64_t seed, Address address, Instant now, EndpointConfig config,
                           std::optional<KeyPair> long_term)
    : rng_(seed),
      address_(address),
      config_(std::move(config)),
      long_term_(long_term ? std::move(*long_term) : keys_from(rng_)),
      endpoint_(long_term_, keys_from(rng_), rng_, now, config_) {}

void EndpointNode::restart(Instant now, Address address) {
    address_ = address;
    endpoint_ = Endpoint(long_term_, keys_from(rng_), rng_, now, config_);
}

template <class F>
decltype(auto) EndpointNode::metered(F&& f) {
    struct Meter {
        EndpointNode& node;
        std::int64_t before = live_heap_bytes();
        ~Meter() {
            node.endpoint_heap += live_heap_bytes() - before;
            node.endpoint_heap_peak = std::max(node.endpoint_heap_peak, node.endpoint_heap);
        }
    } meter{*this};
    return f();
}

void EndpointNode::handle_datagram(Instant now, const Address& from,
                                   std::span<const std::uint8_t> bytes) {
    metered([&] { endpoint_.handle_datagram(now, from, bytes); });
    pump_events(now);
}

std::optional<Outgoing> EndpointNode::poll_transmit(Instant now) {
    pump_events(now);
    auto t = metered([&] { return endpoint_.poll_transmit(now, buffer_); });
    if (!t) return std::nullopt;
    return Outgoing{address_, t->destination,
                    std::vector<std::uint8_t>(
                        buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(t->size))};
}

std::optional<Instant> EndpointNode::next_timeout() const { return endpoint_.next_timeout(); }

void EndpointNode::handle_timeout(Instant now) {
    metered([&] { endpoint_.handle_timeout(now); });
    pump_events(now);
}

Status EndpointNode::status_of(const PublicKey& peer) const {
    auto id = endpoint_.find(peer);
    if (!id) return Status::kClosed;
    auto info = endpoint_.info(*id);
    return info ? info->status : Status::kClosed;
}

void EndpointNode::drain(Instant now, ConnectionId id) {
    std::array<std::uint8_t, kMaxMessageSize> msg{};
    for (int i = 0; i < 100000; ++i) {
        auto n = metered([&] { return endpoint_.read_lossless(now, id, msg); });
        if (!n || *n == 0) break;
        auto view = std::span<const std::uint8_t>(msg).first(*n);
        if (on_lossless) {
            on_lossless(id, view);
        } else {
            received.emplace_back(view.begin(), view.end());
        }
    }
    for (int i = 0; i < 100000; ++i) {
        auto n = metered([&] { return endpoint_.read_lossy(id, msg); });
        if (!n || *n == 0) break;
        received_lossy.emplace_back(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(*n));
    }
}

void EndpointNode::pump_events(Instant now) {
    for (int i = 0; i < 100000; ++i) {
        auto e = metered([&] { return endpoint_.poll_event(); });
        if (!e) break;
        if (record_events) {
            events.push_back(*e);
            event_times.push_back(now);
        }
        if (const auto* s = e->get_if<StatusChanged>()) transitions.push_back(transition_name(*s));
        if (const auto* in = e->get_if<IncomingRequest>()) {
            if (accept_incoming) {
                (void)metered([&] { return endpoint_.accept(now, in->request); });
            } else if (reject_incoming) {
                (void)metered([&] { return endpoint_.reject(in->request); });
            }
        }
        if (const auto* r = e->get_if<Readable>(); r != nullptr && read_enabled) {
            drain(now, r->connection);
        }
        if (on_event) on_event(now, *e);
    }
}

}  // namespace netcrypto::sim
