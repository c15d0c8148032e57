// Helpers shared by netcrypto_compare and tox_compare (bench/compare.sh): child processes that
// speak JSON lines (tests/support/json_child.hpp), the monotonic clock that
// every process of a run shares, /proc readers (CPU seconds, resident memory) and statistics.
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "json_child.hpp"

namespace netcrypto::bench {

using json = nlohmann::json;

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process, so the driver can compare
/// timestamps its children print.
inline std::int64_t mono_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// CPU seconds (user + system) of the calling thread.
inline double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// CPU seconds (user + system) a process has used so far, from /proc/PID/stat; -1 if unknown.
inline double proc_cpu_seconds(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(f, line)) return -1;
    const auto close = line.rfind(')');  // the command name may contain spaces
    if (close == std::string::npos) return -1;
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> fields;
    for (std::string t; rest >> t;) fields.push_back(t);
    if (fields.size() < 13) return -1;
    // Fields 14 (utime) and 15 (stime) of proc(5); `fields` starts at field 3 (state).
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

/// Resident set size of a process in bytes (VmRSS of /proc/PID/status); 0 if unknown.
inline std::uint64_t proc_rss_bytes(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoull(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
        }
    }
    return 0;
}

/// The path of the running executable (children are started as this program's subcommands).
inline std::string self_exe() {
    std::array<char, 4096> buf{};
    const ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    if (n <= 0) throw std::runtime_error("readlink /proc/self/exe failed");
    return std::string(buf.data(), static_cast<std::size_t>(n));
}

inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/// The q-quantile (0..1) by nearest rank.
inline double quantile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

/// Median, p10, p90, min, max and the samples, as a JSON object.
inline json summary(const std::vector<double>& v) {
    if (v.empty()) return json{{"runs", 0}};
    return json{{"median", median(v)},
                {"p10", quantile(v, 0.1)},
                {"p90", quantile(v, 0.9)},
                {"min", *std::min_element(v.begin(), v.end())},
                {"max", *std::max_element(v.begin(), v.end())},
                {"runs", v.size()},
                {"samples", v}};
}

/// Least-squares slope of y over x.
inline double slope(const std::vector<double>& x, const std::vector<double>& y) {
    const auto n = static_cast<double>(x.size());
    if (x.size() < 2) return 0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        sx += x[i];
        sy += y[i];
        sxx += x[i] * x[i];
        sxy += x[i] * y[i];
    }
    const double d = n * sxx - sx * sx;
    return d == 0 ? 0 : (n * sxy - sx * sy) / d;
}

inline void note(std::string_view what) { std::cerr << "[compare] " << what << std::endl; }

/// One JSON line on stdout, flushed (the protocol between children and the driver).
inline void emit(json j) {
    j["t_ns"] = mono_ns();
    std::cout << j.dump() << std::endl;
}

/// A child process speaking JSON lines (tests/support/json_child.hpp), with the events it
/// printed (each stored with the driver's receive time in "_rx_ns"). The destructor closes its
/// stdin (the child's cue to quit), then kills it if it has not exited within 5 s.
class Child {
  public:
    Child(const std::string& exe, const std::vector<std::string>& args, std::string label)
        : label_(std::move(label)), proc_(exe, args) {}
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    Child(Child&&) = delete;
    Child& operator=(Child&&) = delete;

    [[nodiscard]] pid_t pid() const { return proc_.pid(); }
    [[nodiscard]] int stdout_fd() const { return proc_.stdout_fd(); }
    [[nodiscard]] const std::vector<json>& events() const { return events_; }
    [[nodiscard]] const std::string& label() const { return label_; }

    void send(const std::string& line) {
        try {
            proc_.send(line);
        } catch (const std::runtime_error& e) {
            throw std::runtime_error(label_ + ": " + e.what());
        }
    }

    /// Reads whatever the child printed, without blocking.
    void drain() {
        proc_.read([this](json&& j, const std::string&) {
            j["_rx_ns"] = mono_ns();
            events_.push_back(std::move(j));
        });
    }

    /// The first event named `name` at index ≥ `from` that satisfies `pred`, if already read.
    [[nodiscard]] std::optional<std::size_t> find(
        std::string_view name, std::size_t from = 0,
        const std::function<bool(const json&)>& pred = {}) const {
        return testing::find_event(events_, name, from, pred);
    }

    /// Waits (reading the child's output) for such an event; nullopt on timeout or EOF.
    std::optional<json> wait_for(std::string_view name, double timeout_s, std::size_t from = 0,
                                 const std::function<bool(const json&)>& pred = {}) {
        const std::int64_t deadline = mono_ns() + static_cast<std::int64_t>(timeout_s * 1e9);
        for (;;) {
            drain();
            if (auto i = find(name, from, pred)) return events_[*i];
            const std::int64_t left = deadline - mono_ns();
            if (left <= 0 || proc_.eof()) return std::nullopt;
            pollfd p{proc_.stdout_fd(), POLLIN, 0};
            ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left / 1'000'000 + 1, 100)));
        }
    }

    /// Sends `command` and waits for the reply event `reply`.
    json request(const std::string& command, std::string_view reply, double timeout_s = 10) {
        const std::size_t mark = events_.size();
        send(command);
        auto r = wait_for(reply, timeout_s, mark);
        if (!r)
            throw std::runtime_error(label_ + ": no '" + std::string(reply) + "' after '" +
                                     command + "'");
        return *r;
    }

    /// Closes stdin and waits for the child (SIGKILL after 5 s).
    void stop() { proc_.stop(std::chrono::seconds{5}); }

  private:
    std::string label_;
    testing::JsonChild proc_;
    std::vector<json> events_;
};

/// Reads complete lines from stdin without blocking (children's command input).
class LineReader {
  public:
    LineReader() { ::fcntl(STDIN_FILENO, F_SETFL, ::fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK); }
    /// Appends complete lines to `out`; returns false once stdin reached EOF.
    bool read(std::vector<std::string>& out) {
        std::array<char, 4096> buf{};
        for (;;) {
            const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) eof_ = true;
            if (n <= 0) break;
            pending_.append(buf.data(), static_cast<std::size_t>(n));
        }
        std::size_t nl = 0;
        while ((nl = pending_.find('\n')) != std::string::npos) {
            out.push_back(pending_.substr(0, nl));
            pending_.erase(0, nl + 1);
        }
        return !eof_;
    }

  private:
    std::string pending_;
    bool eof_ = false;
};

/// Whitespace-separated words of a command line.
inline std::vector<std::string> words(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> w;
    for (std::string t; in >> t;) w.push_back(t);
    return w;
}

/// "--name value" style arguments after the subcommand.
class Args {
  public:
    Args(int argc, char** argv, int first) {
        for (int i = first; i < argc; ++i) args_.emplace_back(argv[i]);
    }
    [[nodiscard]] std::string get(std::string_view name, std::string fallback = "") const {
        for (std::size_t i = 0; i + 1 < args_.size(); ++i) {
            if (args_[i] == name) return args_[i + 1];
        }
        return fallback;
    }
    [[nodiscard]] std::vector<std::string> all(std::string_view name) const {
        std::vector<std::string> v;
        for (std::size_t i = 0; i + 1 < args_.size(); ++i) {
            if (args_[i] == name) v.push_back(args_[i + 1]);
        }
        return v;
    }
    /// A flag without a value.
    [[nodiscard]] bool has(std::string_view name) const {
        return std::find(args_.begin(), args_.end(), name) != args_.end();
    }
    [[nodiscard]] double number(std::string_view name, double fallback) const {
        const std::string v = get(name);
        return v.empty() ? fallback : std::stod(v);
    }

  private:
    std::vector<std::string> args_;
};

}  // namespace netcrypto::bench
