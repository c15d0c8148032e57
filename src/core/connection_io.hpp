// What a connection lends its data stream during one call: sealing with the session, the
// route, the endpoint's outputs and the connection's events and counters.
#pragma once

#include "core/connection.hpp"

namespace netcrypto::core {

class Connection::Io final : public data::StreamIo {
  public:
    Io(Connection& conn, Services& s, Session& session) : conn_(conn), s_(s), session_(session) {}

    void send_plain(std::span<const std::uint8_t> plain) override {
        std::array<std::uint8_t, wire::kMaxPacketSize> packet{};
        const std::size_t n = conn_.seal(session_, plain, packet);
        if (n > 0) conn_.send_over_route(s_, std::span<const std::uint8_t>(packet).first(n), false);
    }
    [[nodiscard]] std::size_t transmit_room() const override { return s_.out.transmit_room(); }
    void wants_to_send() override { s_.out.wants_to_send(conn_.id_); }
    void readable() override { conn_.notify(s_, Event::Kind::kReadable); }
    void writable() override { conn_.notify(s_, Event::Kind::kWritable); }
    void acked(std::uint32_t up_to) override { conn_.notify(s_, Event::Kind::kAcked, up_to); }
    void drop(DropReason r) override { s_.drop(r); }
    ConnectionStats& stats() override { return conn_.stats_; }

  private:
    Connection& conn_;
    Services& s_;
    Session& session_;
};

}  // namespace netcrypto::core
