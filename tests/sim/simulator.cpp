#include "sim/simulator.hpp"

#include <algorithm>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>

namespace netcrypto::sim {

// --- randomness and hashing ---------------------------------------------------------------------

std::uint64_t splitmix64(std::uint64_t& state) {
    state += 0x9E3779B97F4A7C15ULL;
    std::uint64_t z = state;
    z = (z ^ (z >> 30U)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27U)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31U);
}

Prng::Prng(std::uint64_t seed) {
    for (auto& word : s_) word = splitmix64(seed);
}

std::uint64_t Prng::next() {
    const auto rotl = [](std::uint64_t x, unsigned k) { return (x << k) | (x >> (64U - k)); };
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17U;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

std::uint64_t Prng::below(std::uint64_t bound) { return next() % bound; }

double Prng::unit(std::uint64_t bits) { return static_cast<double>(bits >> 11U) * 0x1.0p-53; }

std::uint64_t hash_bytes(std::span<const std::uint8_t> bytes) {
    std::uint64_t h = 1469598103934665603ULL;
    for (const auto b : bytes) {
        h ^= b;
        h *= 1099511628211ULL;
    }
    return h;
}

namespace {

/// True with probability `p`, deciding from 64 random bits.
bool chance(double p, std::uint64_t bits) { return p > 0.0 && Prng::unit(bits) < p; }

/// Folds `value` into a running digest.
void fold(std::uint64_t& digest, std::uint64_t value) {
    std::uint64_t state = digest ^ value;
    digest = splitmix64(state);
}

void fold(std::uint64_t& digest, const Address& a) {
    fold(digest, static_cast<std::uint64_t>(a.family) << 16U | a.port);
    fold(digest, hash_bytes(a.ip));
}

/// Nanoseconds the link is busy sending `size` bytes at `bps` (rounded up).
Duration serialization_time(std::size_t size, std::uint64_t bps) {
    const std::uint64_t bits = static_cast<std::uint64_t>(size) * 8U;
    return Duration{static_cast<Duration::rep>((bits * 1'000'000'000ULL + bps - 1) / bps)};
}

std::string format_offset(Duration d) {
    std::ostringstream os;
    os << '+' << std::fixed << std::setprecision(6) << std::chrono::duration<double>(d).count()
       << 's';
    return os.str();
}

const char* to_string(Fate fate) {
    switch (fate) {
        case Fate::kSent:
            return "send";
        case Fate::kDelivered:
            return "deliver";
        case Fate::kDropped:
            return "drop";
    }
    return "?";
}

const char* to_string(RunStatus status) {
    switch (status) {
        case RunStatus::kDeadlineReached:
            return "deadline reached";
        case RunStatus::kPredicateMet:
            return "predicate met";
        case RunStatus::kIdle:
            return "idle (no events left)";
        case RunStatus::kStepLimit:
            return "step limit";
        case RunStatus::kTimeoutLoop:
            return "timeout loop";
        case RunStatus::kTransmitLoop:
            return "transmit loop";
        case RunStatus::kBadTransmit:
            return "bad transmit";
    }
    return "?";
}

}  // namespace

const char* to_string(DropReason reason) {
    switch (reason) {
        case DropReason::kNone:
            return "none";
        case DropReason::kLoss:
            return "loss";
        case DropReason::kQueue:
            return "queue";
        case DropReason::kMtu:
            return "mtu";
        case DropReason::kFilter:
            return "filter";
        case DropReason::kPartition:
            return "partition";
        case DropReason::kNoRoute:
            return "no-route";
    }
    return "?";
}

// --- stats, results -----------------------------------------------------------------------------

std::uint64_t LinkStats::dropped_total() const {
    std::uint64_t total = 0;
    for (const auto n : dropped) total += n;
    return total;
}

LinkStats& LinkStats::operator+=(const LinkStats& other) {
    sent += other.sent;
    delivered += other.delivered;
    duplicated += other.duplicated;
    corrupted += other.corrupted;
    bytes_delivered += other.bytes_delivered;
    for (std::size_t i = 0; i < dropped.size(); ++i) dropped[i] += other.dropped[i];
    return *this;
}

std::string RunResult::describe() const {
    std::ostringstream os;
    os << to_string(status) << (success ? " (ok)" : " (FAILED)") << " after " << steps
       << " steps at t=" << std::fixed << std::setprecision(6)
       << std::chrono::duration<double>(end.time_since_epoch()).count() << "s";
    if (!message.empty()) os << ": " << message;
    return os.str();
}

std::ostream& operator<<(std::ostream& os, const RunResult& result) {
    return os << result.describe();
}

// --- filters ------------------------------------------------------------------------------------

namespace filters {

PacketPredicate first_byte_is(std::uint8_t value) {
    return [value](const Packet& p) { return !p.bytes.empty() && p.bytes.front() == value; };
}

PacketPredicate from_to(const Address& from, const Address& to) {
    return [from, to](const Packet& p) { return p.from == from && p.to == to; };
}

PacketPredicate sent_between(Instant start, Instant end) {
    return [start, end](const Packet& p) { return p.sent_at >= start && p.sent_at < end; };
}

PacketPredicate all_of(std::vector<PacketPredicate> predicates) {
    return [predicates = std::move(predicates)](const Packet& p) {
        return std::all_of(predicates.begin(), predicates.end(),
                           [&p](const PacketPredicate& pred) { return pred(p); });
    };
}

Filter drop_if(PacketPredicate predicate) {
    return [predicate = std::move(predicate)](const Packet& p) {
        return predicate(p) ? FilterAction::drop() : FilterAction::pass();
    };
}

Filter drop_first(std::size_t count, PacketPredicate predicate) {
    return [remaining = count, predicate = std::move(predicate)](const Packet& p) mutable {
        if (remaining == 0 || !predicate(p)) return FilterAction::pass();
        --remaining;
        return FilterAction::drop();
    };
}

Filter rewrite_if(PacketPredicate predicate, std::function<void(std::vector<std::uint8_t>&)> edit) {
    return [predicate = std::move(predicate), edit = std::move(edit)](const Packet& p) {
        if (!predicate(p)) return FilterAction::pass();
        auto bytes = p.bytes;
        edit(bytes);
        return FilterAction::replace(std::move(bytes));
    };
}

}  // namespace filters

// --- simulator: setup ---------------------------------------------------------------------------

Simulator::Simulator(SimConfig config) : config_(config), now_(config_.start) {
    fold(digest_, config_.seed);
}

NodeId Simulator::add_node(Node& node, std::vector<Address> addresses) {
    const NodeId id = nodes_.size();
    for (const auto& a : addresses) {
        if (!owner_.emplace(a, id).second) {
            throw std::invalid_argument("address " + a.to_string() + " already has a node");
        }
    }
    nodes_.push_back(NodeSlot{&node, std::move(addresses), {}, 0, now_, 0});
    wake(id);
    return id;
}

const std::vector<Address>& Simulator::addresses(NodeId id) const {
    return nodes_.at(id).addresses;
}

Simulator::Link& Simulator::link(const Address& from, const Address& to) {
    auto it = links_.find({from, to});
    if (it == links_.end()) {
        // Each link's random stream depends only on the seed and its endpoints, so creating
        // another link never shifts the decisions made on this one.
        std::uint64_t state = config_.seed;
        fold(state, from);
        fold(state, to);
        it = links_
                 .emplace(std::pair{from, to},
                          Link{std::nullopt, Prng(state), {}, Fifo{now_, {}, 0, 0}, nullptr})
                 .first;
    }
    return it->second;
}

const LinkConfig& Simulator::effective(const Link& l) const {
    return l.config ? *l.config : config_.default_link;
}

void Simulator::set_link(const Address& from, const Address& to, const LinkConfig& config) {
    link(from, to).config = config;
}

void Simulator::set_link(NodeId from, NodeId to, const LinkConfig& config) {
    for (const auto& a : nodes_.at(from).addresses) {
        for (const auto& b : nodes_.at(to).addresses) set_link(a, b, config);
    }
}

void Simulator::set_symmetric_link(NodeId a, NodeId b, const LinkConfig& config) {
    set_link(a, b, config);
    set_link(b, a, config);
}

LinkConfig Simulator::link_config(const Address& from, const Address& to) const {
    const auto it = links_.find({from, to});
    return it == links_.end() ? config_.default_link : effective(it->second);
}

void Simulator::set_partition(NodeId a, NodeId b, bool partitioned) {
    for (const auto& [x, y] : {std::pair{a, b}, std::pair{b, a}}) {
        for (const auto& from : nodes_.at(x).addresses) {
            for (const auto& to : nodes_.at(y).addresses) {
                Link& l = link(from, to);
                LinkConfig config = effective(l);
                config.partitioned = partitioned;
                l.config = config;
            }
        }
    }
}

void Simulator::share_bottleneck(const std::vector<std::pair<Address, Address>>& links) {
    auto& fifo = shared_fifos_.emplace_back(std::make_unique<Fifo>());
    fifo->busy_until = now_;
    for (const auto& [from, to] : links) link(from, to).shared = fifo.get();
}

void Simulator::add_filter(Filter filter) { filters_.push_back(std::move(filter)); }

void Simulator::clear_filters() { filters_.clear(); }

void Simulator::at(Instant when, std::function<void()> action) {
    push(std::max(when, now_), Action{std::move(action)});
}

// --- simulator: event queue ---------------------------------------------------------------------

namespace {
/// Heap order: the earliest (time, seq) must surface first.
constexpr auto kLater = [](const auto& a, const auto& b) {
    return a.time != b.time ? a.time > b.time : a.seq > b.seq;
};
}  // namespace

void Simulator::push(Instant time, std::variant<Delivery, TimerFire, Action> what) {
    queue_.push_back(Event{time, next_seq_++, std::move(what)});
    std::push_heap(queue_.begin(), queue_.end(), kLater);
}

Simulator::Event Simulator::pop() {
    std::pop_heap(queue_.begin(), queue_.end(), kLater);
    Event event = std::move(queue_.back());
    queue_.pop_back();
    return event;
}

void Simulator::step() {
    Event event = pop();
    now_ = event.time;
    if (auto* d = std::get_if<Delivery>(&event.what)) {
        ++d->link->stats.delivered;
        d->link->stats.bytes_delivered += d->bytes.size();
        record(Fate::kDelivered, DropReason::kNone, d->from, d->to, d->bytes);
        nodes_[d->node].node->handle_datagram(now_, d->from, d->bytes);
        service(d->node);
    } else if (auto* t = std::get_if<TimerFire>(&event.what)) {
        NodeSlot& slot = nodes_[t->node];
        if (t->generation != slot.timer_generation) return;  // re-armed or cancelled since
        slot.timer.reset();
        if (slot.last_timeout_at == now_) {
            if (++slot.timeouts_at_instant > config_.max_timeouts_per_instant) {
                abort(RunStatus::kTimeoutLoop,
                      describe(t->node) + " asked for more than " +
                          std::to_string(config_.max_timeouts_per_instant) +
                          " timeouts at the same instant without time advancing");
                return;
            }
        } else {
            slot.last_timeout_at = now_;
            slot.timeouts_at_instant = 1;
        }
        slot.node->handle_timeout(now_);
        service(t->node);
    } else {
        std::get<Action>(event.what).run();
    }
}

void Simulator::abort(RunStatus status, std::string message) {
    if (aborted_) return;  // keep the first failure
    aborted_ = status;
    abort_message_ = std::move(message);
}

std::string Simulator::describe(NodeId id) const {
    std::string text = "node " + std::to_string(id);
    if (!nodes_[id].addresses.empty()) {
        text += " (" + nodes_[id].addresses.front().to_string() + ")";
    }
    return text;
}

// --- simulator: nodes and packets ---------------------------------------------------------------

void Simulator::wake(NodeId id) { service(id); }

void Simulator::service(NodeId id) {
    NodeSlot& slot = nodes_.at(id);
    for (std::uint32_t sent = 0;; ++sent) {
        if (aborted_) return;
        auto out = slot.node->poll_transmit(now_);
        if (!out) break;
        if (sent == config_.max_transmits_per_wake) {
            abort(RunStatus::kTransmitLoop, describe(id) + " returned more than " +
                                                std::to_string(sent) +
                                                " datagrams from poll_transmit in one wake");
            return;
        }
        send(id, std::move(*out));
    }
    const auto wanted = slot.node->next_timeout();
    if (!wanted) {
        if (slot.timer) ++slot.timer_generation;  // cancel the armed event
        slot.timer.reset();
        return;
    }
    const Instant when = std::max(*wanted, now_);  // overdue timeouts fire now
    if (slot.timer == when) return;                // already armed for that instant
    slot.timer = when;
    push(when, TimerFire{id, ++slot.timer_generation});
}

void Simulator::send(NodeId id, Outgoing out) {
    const auto& own = nodes_[id].addresses;
    if (std::find(own.begin(), own.end(), out.from) == own.end()) {
        abort(RunStatus::kBadTransmit,
              describe(id) + " sent from " + out.from.to_string() + ", which it does not own");
        return;
    }
    Link& l = link(out.from, out.to);
    Packet packet{now_, out.from, out.to, std::move(out.bytes), next_packet_id_++};
    ++l.stats.sent;
    record(Fate::kSent, DropReason::kNone, packet.from, packet.to, packet.bytes);

    Draws d{l.rng.next(), l.rng.next(), {}};
    for (auto& copy : d.copies) {
        copy = {l.rng.next(), l.rng.next(), l.rng.next(), l.rng.next()};
    }

    for (const auto& filter : filters_) {
        FilterAction action = filter(packet);
        if (action.kind == FilterAction::Kind::kDrop) return drop(l, packet, DropReason::kFilter);
        if (action.kind == FilterAction::Kind::kReplace) packet.bytes = std::move(action.bytes);
    }
    const LinkConfig& config = effective(l);
    if (config.partitioned) return drop(l, packet, DropReason::kPartition);
    if (config.mtu != 0 && packet.bytes.size() > config.mtu) {
        return drop(l, packet, DropReason::kMtu);
    }
    const auto dest = owner_.find(packet.to);
    if (dest == owner_.end()) return drop(l, packet, DropReason::kNoRoute);
    const auto departure = enqueue(l, config, packet.bytes.size());
    if (!departure) return drop(l, packet, DropReason::kQueue);
    if (chance(config.loss_probability, d.loss)) return drop(l, packet, DropReason::kLoss);

    schedule_copy(l, config, packet, dest->second, *departure, d.copies[0]);
    if (chance(config.duplicate_probability, d.duplicate)) {
        ++l.stats.duplicated;
        schedule_copy(l, config, packet, dest->second, *departure, d.copies[1]);
    }
}

void Simulator::drop(Link& l, const Packet& packet, DropReason reason) {
    ++l.stats.dropped[static_cast<std::size_t>(reason)];
    record(Fate::kDropped, reason, packet.from, packet.to, packet.bytes);
}

std::optional<Instant> Simulator::enqueue(Link& l, const LinkConfig& config, std::size_t size) {
    if (config.bandwidth_bps == 0) return now_;
    Fifo& f = l.fifo();
    // Forget packets whose serialization has finished; what is left is the bottleneck queue.
    while (f.queue_head < f.queue.size() && f.queue[f.queue_head].first <= now_) {
        f.queued_bytes -= f.queue[f.queue_head].second;
        ++f.queue_head;
    }
    if (f.queue_head == f.queue.size()) {
        f.queue.clear();
        f.queue_head = 0;
    } else if (f.queue_head > 1024 && f.queue_head * 2 > f.queue.size()) {
        // A link that never drains completely must not grow without bound.
        f.queue.erase(f.queue.begin(), f.queue.begin() + static_cast<std::ptrdiff_t>(f.queue_head));
        f.queue_head = 0;
    }
    const std::size_t queued_packets = f.queue.size() - f.queue_head;
    if ((config.queue_limit_packets != 0 && queued_packets >= config.queue_limit_packets) ||
        (config.queue_limit_bytes != 0 && f.queued_bytes + size > config.queue_limit_bytes)) {
        return std::nullopt;
    }
    f.busy_until = std::max(f.busy_until, now_) + serialization_time(size, config.bandwidth_bps);
    f.queue.emplace_back(f.busy_until, size);
    f.queued_bytes += size;
    return f.busy_until;
}

void Simulator::schedule_copy(Link& l, const LinkConfig& config, const Packet& packet, NodeId dest,
                              Instant departure, const CopyDraws& draws) {
    Instant arrival = departure + config.delay;
    if (config.jitter.count() > 0) {
        const auto span = static_cast<std::uint64_t>(config.jitter.count()) + 1;
        arrival += Duration{static_cast<Duration::rep>(draws.jitter % span)};
    }
    if (chance(config.reorder_probability, draws.reorder)) arrival += config.reorder_delay;
    auto bytes = packet.bytes;
    if (!bytes.empty() && chance(config.corrupt_probability, draws.corrupt)) {
        ++l.stats.corrupted;
        bytes[(draws.where >> 3U) % bytes.size()] ^=
            static_cast<std::uint8_t>(1U << (draws.where & 7U));
    }
    push(arrival, Delivery{&l, dest, packet.from, packet.to, std::move(bytes)});
}

// --- simulator: trace ---------------------------------------------------------------------------

void Simulator::record(Fate fate, DropReason reason, const Address& from, const Address& to,
                       std::span<const std::uint8_t> bytes) {
    TraceEntry entry{now_,
                     fate,
                     reason,
                     from,
                     to,
                     bytes.size(),
                     bytes.empty() ? std::uint8_t{0} : bytes.front(),
                     hash_bytes(bytes)};
    fold(digest_, static_cast<std::uint64_t>((entry.time - config_.start).count()));
    fold(digest_, static_cast<std::uint64_t>(fate) << 8U | static_cast<std::uint64_t>(reason));
    fold(digest_, from);
    fold(digest_, to);
    fold(digest_, entry.size);
    fold(digest_, entry.hash);
    if (config_.keep_trace) trace_.push_back(entry);
}

std::string Simulator::format_trace(std::size_t max_entries) const {
    std::ostringstream os;
    const std::size_t first = trace_.size() > max_entries ? trace_.size() - max_entries : 0;
    if (first > 0) os << "... " << first << " earlier entries\n";
    for (std::size_t i = first; i < trace_.size(); ++i) {
        const TraceEntry& e = trace_[i];
        os << format_offset(e.time - config_.start) << ' ' << to_string(e.fate);
        if (e.fate == Fate::kDropped) os << '(' << to_string(e.reason) << ')';
        os << ' ' << e.from.to_string() << " -> " << e.to.to_string() << " len=" << e.size
           << std::hex << std::setfill('0') << " b0=0x" << std::setw(2)
           << static_cast<unsigned>(e.first_byte) << " hash=" << std::setw(16) << e.hash << std::dec
           << std::setfill(' ') << '\n';
    }
    return os.str();
}

// --- simulator: run loops -----------------------------------------------------------------------

RunResult Simulator::run(Instant deadline, const std::function<bool()>* predicate) {
    RunResult result;
    const auto finish = [&](RunStatus status, bool success, std::string message = {}) {
        result.status = status;
        result.success = success;
        result.end = now_;
        result.message = std::move(message);
        return result;
    };
    if (aborted_) return finish(*aborted_, false, abort_message_);
    if (predicate != nullptr && (*predicate)()) return finish(RunStatus::kPredicateMet, true);
    while (true) {
        if (queue_.empty() && predicate != nullptr) return finish(RunStatus::kIdle, false);
        if (queue_.empty() || queue_.front().time > deadline) {
            now_ = std::max(now_, deadline);
            return finish(RunStatus::kDeadlineReached, predicate == nullptr);
        }
        if (result.steps == config_.max_steps) {
            return finish(RunStatus::kStepLimit, false,
                          "processed max_steps=" + std::to_string(config_.max_steps) +
                              " events; next event at " +
                              format_offset(queue_.front().time - config_.start));
        }
        ++result.steps;
        step();
        if (aborted_) return finish(*aborted_, false, abort_message_);
        if (predicate != nullptr && (*predicate)()) return finish(RunStatus::kPredicateMet, true);
    }
}

RunResult Simulator::run_until(Instant deadline) { return run(deadline, nullptr); }

RunResult Simulator::run_for(Duration duration) { return run(now_ + duration, nullptr); }

RunResult Simulator::run_until(const std::function<bool()>& predicate, Instant deadline) {
    return run(deadline, &predicate);
}

// --- stats --------------------------------------------------------------------------------------

LinkStats Simulator::link_stats(const Address& from, const Address& to) const {
    const auto it = links_.find({from, to});
    return it == links_.end() ? LinkStats{} : it->second.stats;
}

LinkStats Simulator::link_stats(NodeId from, NodeId to) const {
    LinkStats total;
    for (const auto& a : nodes_.at(from).addresses) {
        for (const auto& b : nodes_.at(to).addresses) total += link_stats(a, b);
    }
    return total;
}

LinkStats Simulator::total_stats() const {
    LinkStats total;
    for (const auto& [key, l] : links_) total += l.stats;
    return total;
}

}  // namespace netcrypto::sim
