// A deterministic network simulator for sans-I/O nodes: a virtual clock, an event queue ordered by
// (time, insertion sequence), directional links with delay, jitter, bandwidth, a tail-drop queue,
// loss, duplication, reordering and corruption, scripted packet filters, and a trace whose digest
// is identical for identical seeds.
//
// The simulator knows nothing about net_crypto: anything implementing `Node` can be attached (the
// endpoint adapter, or the toy nodes of simulator_test.cpp).
//
// Driving rules (the same loop a real runtime runs around a sans-I/O core):
//   - after every event delivered to a node (datagram, timeout, or an explicit wake()), the
//     simulator drains the node's poll_transmit() until it returns nullopt, then re-registers
//     the node's next_timeout() (a timeout at or before now fires at the current time);
//   - every run call is bounded in virtual time (its deadline) and in events (max_steps), and a
//     node that asks for a timeout "now" over and over, or transmits without end, aborts the run
//     with a status naming the node instead of hanging the test.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <netcrypto/address.hpp>
#include <netcrypto/time.hpp>

namespace netcrypto::sim {

// --- deterministic randomness -----------------------------------------------------------------

/// One step of splitmix64: advances `state` and returns the next output (used for seeding).
std::uint64_t splitmix64(std::uint64_t& state);

/// xoshiro256** seeded through splitmix64: the same seed gives the same stream on every platform
/// and standard library (unlike <random> distributions).
class Prng {
  public:
    explicit Prng(std::uint64_t seed);
    /// The next 64 random bits.
    std::uint64_t next();
    /// A value in [0, bound); bound must be > 0 (modulo bias is negligible for small bounds).
    std::uint64_t below(std::uint64_t bound);
    /// A double in [0, 1) built from the top 53 bits of `bits`.
    static double unit(std::uint64_t bits);

  private:
    std::array<std::uint64_t, 4> s_{};
};

/// FNV-1a 64-bit hash of a byte string (stable across runs and platforms).
std::uint64_t hash_bytes(std::span<const std::uint8_t> bytes);

// --- nodes --------------------------------------------------------------------------------------

/// A datagram a node wants sent: `from` is one of the node's own addresses.
struct Outgoing {
    Address from;
    Address to;
    std::vector<std::uint8_t> bytes;
};

/// What the simulator drives: a sans-I/O protocol endpoint (or a toy) seen through four calls.
class Node {
  public:
    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    Node(Node&&) = delete;
    Node& operator=(Node&&) = delete;
    virtual ~Node() = default;

    /// A datagram from `from` arrived at one of this node's addresses at `now`.
    virtual void handle_datagram(Instant now, const Address& from,
                                 std::span<const std::uint8_t> bytes) = 0;
    /// The next datagram to send, or nullopt when there is nothing more to send right now.
    virtual std::optional<Outgoing> poll_transmit(Instant now) = 0;
    /// When handle_timeout wants to be called next, or nullopt for "no timer armed".
    [[nodiscard]] virtual std::optional<Instant> next_timeout() const = 0;
    /// The armed timeout is due (`now` >= the instant returned by next_timeout()).
    virtual void handle_timeout(Instant now) = 0;
};

/// Index of a node in its simulator, in the order of add_node().
using NodeId = std::size_t;

// --- links --------------------------------------------------------------------------------------

/// Behaviour of one direction of a link (src address -> dst address). Probabilities are in [0, 1].
struct LinkConfig {
    /// Fixed one-way propagation delay.
    Duration delay{std::chrono::milliseconds{10}};
    /// Extra delay drawn uniformly from [0, jitter] per packet (jitter >= delay reorders).
    Duration jitter{0};
    /// Link rate in bits/s; each packet occupies the link for size*8/rate. 0 = unlimited (no
    /// queue).
    std::uint64_t bandwidth_bps = 0;
    /// Bottleneck FIFO limits (packets not yet fully serialized); 0 = no limit. Over: tail drop.
    std::size_t queue_limit_packets = 0;
    std::size_t queue_limit_bytes = 0;
    /// Probability that a packet is lost on the wire (after it went through the queue).
    double loss_probability = 0.0;
    /// Probability that a second copy (with its own jitter and corruption draw) is delivered.
    double duplicate_probability = 0.0;
    /// Probability that a packet is held back by `reorder_delay` on top of its normal delay.
    double reorder_probability = 0.0;
    Duration reorder_delay{std::chrono::milliseconds{10}};
    /// Probability that one random bit of one random byte is flipped.
    double corrupt_probability = 0.0;
    /// Largest datagram payload carried; larger ones are dropped. 0 = no limit.
    std::size_t mtu = 1500;
    /// When true every packet offered to the link is dropped (checked at send time).
    bool partitioned = false;
};

/// Why a packet did not arrive.
enum class DropReason : std::uint8_t {
    kNone,       ///< not dropped
    kLoss,       ///< random loss (loss_probability)
    kQueue,      ///< tail drop: the bottleneck queue was full
    kMtu,        ///< larger than the link's MTU
    kFilter,     ///< a scripted filter dropped it
    kPartition,  ///< the link is partitioned
    kNoRoute,    ///< no node owns the destination address
};
inline constexpr std::size_t kDropReasonCount = 7;

/// Short lowercase name of a drop reason ("loss", "queue", ...).
const char* to_string(DropReason reason);

/// Counters of one directional link (or a sum of links).
struct LinkStats {
    std::uint64_t sent = 0;             ///< packets offered to the link by a node
    std::uint64_t delivered = 0;        ///< copies handed to the destination (duplicates count)
    std::uint64_t duplicated = 0;       ///< extra copies scheduled
    std::uint64_t corrupted = 0;        ///< copies with a flipped bit
    std::uint64_t bytes_delivered = 0;  ///< payload bytes of delivered copies
    std::array<std::uint64_t, kDropReasonCount> dropped{};  ///< indexed by DropReason

    /// Packets dropped for `reason`.
    [[nodiscard]] std::uint64_t dropped_by(DropReason reason) const {
        return dropped[static_cast<std::size_t>(reason)];
    }
    /// Packets dropped for any reason.
    [[nodiscard]] std::uint64_t dropped_total() const;
    LinkStats& operator+=(const LinkStats& other);
};

// --- scripted filters ---------------------------------------------------------------------------

/// A packet as a filter sees it when a node sends it.
struct Packet {
    Instant sent_at;
    Address from;
    Address to;
    std::vector<std::uint8_t> bytes;
    std::uint64_t id = 0;  ///< 0, 1, 2... in the order packets were sent in this simulator
};

/// A filter's verdict: let the packet through, drop it, or replace its bytes.
struct FilterAction {
    enum class Kind : std::uint8_t { kPass, kDrop, kReplace };
    Kind kind = Kind::kPass;
    std::vector<std::uint8_t> bytes;  ///< the replacement for kReplace

    static FilterAction pass() { return {}; }
    static FilterAction drop() { return {Kind::kDrop, {}}; }
    static FilterAction replace(std::vector<std::uint8_t> bytes) {
        return {Kind::kReplace, std::move(bytes)};
    }
};

/// Evaluated in order on every send, before the link; the first kDrop wins, a kReplace changes
/// the packet seen by later filters and the link.
using Filter = std::function<FilterAction(const Packet&)>;
/// A test on a packet, to build filters from.
using PacketPredicate = std::function<bool(const Packet&)>;

/// Builders for common filters and predicates.
namespace filters {
/// Packets whose first byte is `value` (empty packets never match).
PacketPredicate first_byte_is(std::uint8_t value);
/// Packets sent from `from` to `to`.
PacketPredicate from_to(const Address& from, const Address& to);
/// Packets sent at an instant in [start, end).
PacketPredicate sent_between(Instant start, Instant end);
/// Packets matching every predicate.
PacketPredicate all_of(std::vector<PacketPredicate> predicates);
/// Drops every matching packet.
Filter drop_if(PacketPredicate predicate);
/// Drops the first `count` matching packets, then lets all through.
Filter drop_first(std::size_t count, PacketPredicate predicate);
/// Lets `edit` modify the bytes of every matching packet.
Filter rewrite_if(PacketPredicate predicate, std::function<void(std::vector<std::uint8_t>&)> edit);
}  // namespace filters

// --- trace --------------------------------------------------------------------------------------

/// What happened to a packet at one point of its life.
enum class Fate : std::uint8_t { kSent, kDelivered, kDropped };

/// One line of the trace. `hash` and `first_byte` are of the bytes at that point (a delivered
/// copy that was corrupted or rewritten by a filter hashes differently from its send entry).
struct TraceEntry {
    Instant time;
    Fate fate = Fate::kSent;
    DropReason reason = DropReason::kNone;
    Address from;
    Address to;
    std::size_t size = 0;
    std::uint8_t first_byte = 0;
    std::uint64_t hash = 0;

    friend bool operator==(const TraceEntry&, const TraceEntry&) = default;
};

// --- the simulator ------------------------------------------------------------------------------

/// Parameters of a simulation run.
struct SimConfig {
    /// Seed of every random decision (each link derives its own stream from it).
    std::uint64_t seed = 1;
    /// Virtual time at construction (far from zero so "time 0" bugs show).
    Instant start{std::chrono::seconds{1'000'000}};
    /// Config of every link not set explicitly.
    LinkConfig default_link{};
    /// Events processed per run call before it stops with RunStatus::kStepLimit.
    std::uint64_t max_steps = 10'000'000;
    /// Consecutive timeouts of one node at the same instant before RunStatus::kTimeoutLoop.
    std::uint32_t max_timeouts_per_instant = 1000;
    /// Datagrams drained from one node after one event before RunStatus::kTransmitLoop.
    std::uint32_t max_transmits_per_wake = 100'000;
    /// Keep every trace entry (the digest is always computed).
    bool keep_trace = true;
};

/// How a run call ended.
enum class RunStatus : std::uint8_t {
    kDeadlineReached,  ///< virtual time reached the deadline (predicate, if any, still false)
    kPredicateMet,     ///< the predicate became true
    kIdle,             ///< no events left and the predicate is still false
    kStepLimit,        ///< max_steps events processed without reaching the goal
    kTimeoutLoop,      ///< a node kept asking for a timeout at the same instant (sticky)
    kTransmitLoop,     ///< a node kept returning datagrams from poll_transmit (sticky)
    kBadTransmit,      ///< a node sent from an address it does not own (sticky)
};

/// Result of a run call; true when the run did what was asked (deadline reached for
/// run_until(Instant)/run_for, predicate met for run_until(predicate, deadline)).
struct RunResult {
    RunStatus status = RunStatus::kDeadlineReached;
    bool success = false;
    std::uint64_t steps = 0;  ///< events processed by this call
    Instant end;              ///< virtual time when the call returned
    std::string message;      ///< human-readable detail for failures

    explicit operator bool() const { return success; }
    /// One line: status, steps, end time and message.
    [[nodiscard]] std::string describe() const;
};
std::ostream& operator<<(std::ostream& os, const RunResult& result);

/// The deterministic discrete-event network simulator (see the file comment).
class Simulator {
  public:
    explicit Simulator(SimConfig config = {});

    /// Attaches `node` (which must outlive the simulator) owning `addresses`, then wakes it.
    /// Throws std::invalid_argument if an address is already owned by another node.
    NodeId add_node(Node& node, std::vector<Address> addresses);
    /// The addresses given to add_node for `id`.
    [[nodiscard]] const std::vector<Address>& addresses(NodeId id) const;

    /// Sets the config of the directional link from -> to (keeps its queue and stats).
    void set_link(const Address& from, const Address& to, const LinkConfig& config);
    /// Sets the config of every link from an address of `from` to an address of `to`.
    void set_link(NodeId from, NodeId to, const LinkConfig& config);
    /// Sets both directions between two nodes.
    void set_symmetric_link(NodeId a, NodeId b, const LinkConfig& config);
    /// The config used by the link from -> to (the default if never set).
    [[nodiscard]] LinkConfig link_config(const Address& from, const Address& to) const;
    /// Partitions (or heals) both directions between two nodes.
    void set_partition(NodeId a, NodeId b, bool partitioned);
    /// Makes the directional links `links` (from, to) one shared bottleneck: they use a single
    /// transmitter and FIFO queue, so a packet on any of them waits behind the packets of all
    /// of them (e.g. two clients uploading to one server through the same access link). Each
    /// link keeps its own config, loss draws and stats; the bandwidth and queue limits of the
    /// link a packet is offered to apply, so give every member the same ones. A link can be in
    /// one group; adding it again moves it to the new group.
    void share_bottleneck(const std::vector<std::pair<Address, Address>>& links);

    /// Appends a filter applied to every packet sent from now on.
    void add_filter(Filter filter);
    void clear_filters();

    /// Runs `action` when virtual time reaches `when` (ordered with other events of that
    /// instant by insertion). Typical use: poke a node's API, then wake() it.
    void at(Instant when, std::function<void()> action);
    /// Drains `id`'s poll_transmit and re-registers its timeout now: call after changing a
    /// node from outside the simulator (e.g. the test asked its endpoint to connect). A loop
    /// detected here is reported by the next run call.
    void wake(NodeId id);

    /// Processes every event up to `deadline`, then sets the clock to it.
    RunResult run_until(Instant deadline);
    /// run_until(now() + duration).
    RunResult run_for(Duration duration);
    /// Processes events until `predicate` (checked before the first and after every event) is
    /// true, no events remain, or the next event lies after `deadline`.
    RunResult run_until(const std::function<bool()>& predicate, Instant deadline);

    [[nodiscard]] Instant now() const { return now_; }
    [[nodiscard]] Instant start() const { return config_.start; }
    [[nodiscard]] std::size_t pending_events() const { return queue_.size(); }

    /// Counters of the directional link from -> to (zeros if never used).
    [[nodiscard]] LinkStats link_stats(const Address& from, const Address& to) const;
    /// Counters summed over every link from an address of `from` to an address of `to`.
    [[nodiscard]] LinkStats link_stats(NodeId from, NodeId to) const;
    /// Counters summed over all links.
    [[nodiscard]] LinkStats total_stats() const;

    /// Every send, drop and delivery so far (empty if keep_trace is false).
    [[nodiscard]] const std::vector<TraceEntry>& trace() const { return trace_; }
    /// A 64-bit digest of the whole trace: equal seeds and scenarios give equal digests.
    [[nodiscard]] std::uint64_t trace_digest() const { return digest_; }
    /// The last `max_entries` trace entries, one per line, for failure messages.
    [[nodiscard]] std::string format_trace(std::size_t max_entries = 50) const;

  private:
    /// A transmitter and its FIFO: owned by one link, or shared by a bottleneck group.
    struct Fifo {
        Instant busy_until;                                  ///< transmitter free from here
        std::vector<std::pair<Instant, std::size_t>> queue;  ///< (serialized at, size), FIFO
        std::size_t queue_head = 0;
        std::size_t queued_bytes = 0;
    };
    struct Link {
        std::optional<LinkConfig> config;  ///< nullopt: the simulator's default
        Prng rng;
        LinkStats stats;
        Fifo own;                ///< this link's transmitter
        Fifo* shared = nullptr;  ///< the group's transmitter (share_bottleneck), if any
        [[nodiscard]] Fifo& fifo() { return shared != nullptr ? *shared : own; }
    };
    struct NodeSlot {
        Node* node = nullptr;
        std::vector<Address> addresses;
        std::optional<Instant> timer;  ///< the armed timeout event, if any
        std::uint64_t timer_generation = 0;
        Instant last_timeout_at;
        std::uint32_t timeouts_at_instant = 0;
    };
    struct Delivery {
        Link* link;
        NodeId node;
        Address from;
        Address to;
        std::vector<std::uint8_t> bytes;
    };
    struct TimerFire {
        NodeId node;
        std::uint64_t generation;
    };
    struct Action {
        std::function<void()> run;
    };
    struct Event {
        Instant time;
        std::uint64_t seq;
        std::variant<Delivery, TimerFire, Action> what;
    };
    /// Random numbers deciding the fate of one delivered copy of a packet.
    struct CopyDraws {
        std::uint64_t jitter, reorder, corrupt, where;
    };
    /// Random numbers for one packet, always drawn in full so that changing one probability
    /// does not shift the decisions made for later packets.
    struct Draws {
        std::uint64_t loss, duplicate;
        std::array<CopyDraws, 2> copies;  ///< the original and its possible duplicate
    };

    Link& link(const Address& from, const Address& to);
    [[nodiscard]] const LinkConfig& effective(const Link& link) const;
    void push(Instant time, std::variant<Delivery, TimerFire, Action> what);
    Event pop();
    void step();
    void service(NodeId id);
    void send(NodeId id, Outgoing out);
    void drop(Link& link, const Packet& packet, DropReason reason);
    std::optional<Instant> enqueue(Link& link, const LinkConfig& config, std::size_t size);
    void schedule_copy(Link& link, const LinkConfig& config, const Packet& packet, NodeId dest,
                       Instant departure, const CopyDraws& draws);
    void record(Fate fate, DropReason reason, const Address& from, const Address& to,
                std::span<const std::uint8_t> bytes);
    void abort(RunStatus status, std::string message);
    RunResult run(Instant deadline, const std::function<bool()>* predicate);
    [[nodiscard]] std::string describe(NodeId id) const;

    SimConfig config_;
    Instant now_;
    std::uint64_t next_seq_ = 0;
    std::uint64_t next_packet_id_ = 0;
    std::vector<Event> queue_;  ///< binary heap, earliest (time, seq) on top
    std::vector<NodeSlot> nodes_;
    std::unordered_map<Address, NodeId> owner_;
    std::map<std::pair<Address, Address>, Link> links_;
    std::vector<Filter> filters_;
    std::vector<std::unique_ptr<Fifo>> shared_fifos_;  ///< bottleneck groups (stable addresses)
    std::vector<TraceEntry> trace_;
    std::uint64_t digest_ = 0;
    std::optional<RunStatus> aborted_;  ///< sticky failure found while processing
    std::string abort_message_;
};

}  // namespace netcrypto::sim
