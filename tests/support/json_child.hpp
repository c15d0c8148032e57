// A child process that speaks JSON lines: commands go to its stdin, one JSON object per line
// comes from its stdout (its stderr is inherited). Used by the interop driver (the c-toxcore
// harness) and by the comparison benchmarks (bench/compare.sh).
//
// The child never outlives its parent (PR_SET_PDEATHSIG), its stdout is read without blocking,
// and stop() closes its stdin (the cue to quit) before it resorts to SIGKILL.
#pragma once

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <fcntl.h>
#include <functional>
#include <optional>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace netcrypto::testing {

class JsonChild {
  public:
    using json = nlohmann::json;

    /// Starts `exe` with `args`; throws std::runtime_error if it cannot.
    JsonChild(const std::string& exe, const std::vector<std::string>& args) {
        std::array<int, 2> in{};
        std::array<int, 2> out{};
        if (::pipe2(in.data(), O_CLOEXEC) != 0 || ::pipe2(out.data(), O_CLOEXEC) != 0) {
            throw std::runtime_error("pipe2 failed");
        }
        argv_.push_back(exe);
        argv_.insert(argv_.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(126);  // the parent is already gone
            ::dup2(in[0], STDIN_FILENO);
            ::dup2(out[1], STDOUT_FILENO);
            ::execv(exe.c_str(), argv.data());
            ::_exit(127);
        }
        ::close(in[0]);
        ::close(out[1]);
        in_ = in[1];
        out_ = out[0];
        ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
    }
    ~JsonChild() { stop(std::chrono::seconds{3}); }
    JsonChild(const JsonChild&) = delete;
    JsonChild& operator=(const JsonChild&) = delete;
    JsonChild(JsonChild&&) = delete;
    JsonChild& operator=(JsonChild&&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] int stdout_fd() const { return out_; }
    [[nodiscard]] bool eof() const { return eof_; }
    /// The command line, for messages.
    [[nodiscard]] std::string command_line() const {
        std::string s;
        for (const auto& a : argv_) s += (s.empty() ? "" : " ") + a;
        return s;
    }

    /// Writes `line` and a newline to the child's stdin; throws if the child is gone.
    void send(std::string_view line) {
        std::string l(line);
        l += '\n';
        std::string_view rest = l;
        while (!rest.empty()) {
            const ssize_t n = in_ >= 0 ? ::write(in_, rest.data(), rest.size()) : -1;
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error("write to the child's stdin failed (child died?)");
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    /// Reads what the child printed so far, without blocking: `on_object(json, line)` for each
    /// complete line that is a JSON object, `on_other(line)` (if given) for any other line.
    void read(const std::function<void(json&&, const std::string&)>& on_object,
              const std::function<void(const std::string&)>& on_other = {}) {
        std::array<char, 65536> buf{};
        while (out_ >= 0) {
            const ssize_t n = ::read(out_, buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) eof_ = true;
            if (n <= 0) break;  // EOF or EAGAIN
            pending_.append(buf.data(), static_cast<std::size_t>(n));
        }
        std::size_t nl = 0;
        while ((nl = pending_.find('\n')) != std::string::npos) {
            const std::string line = pending_.substr(0, nl);
            pending_.erase(0, nl + 1);
            json j = json::parse(line, nullptr, false);
            if (!j.is_discarded() && j.is_object()) {
                on_object(std::move(j), line);
            } else if (on_other) {
                on_other(line);
            }
        }
    }

    /// Waits up to `timeout` for the child to exit on its own; its exit status (the code, or
    /// 128 + the signal), or nullopt if it is still running.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
        if (pid_ <= 0) return exit_status_;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                pid_ = -1;
                return exit_status_;
            }
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            std::this_thread::sleep_for(std::chrono::milliseconds{10});
        }
    }

    /// Closes stdin, gives the child `grace` to exit, then kills it; closes its stdout.
    /// Returns its exit status (see wait_exit).
    std::optional<int> stop(std::chrono::milliseconds grace) {
        if (in_ >= 0) {
            ::close(in_);
            in_ = -1;
        }
        if (pid_ > 0 && !wait_exit(grace)) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            exit_status_ = 128 + SIGKILL;
            pid_ = -1;
        }
        if (out_ >= 0) {
            ::close(out_);
            out_ = -1;
        }
        return exit_status_;
    }

  private:
    std::vector<std::string> argv_;
    pid_t pid_ = -1;
    int in_ = -1;
    int out_ = -1;
    bool eof_ = false;
    std::optional<int> exit_status_;
    std::string pending_;
};

/// The first object at index ≥ `from` whose "event" is `name` and that satisfies `pred`.
inline std::optional<std::size_t> find_event(
    const std::vector<nlohmann::json>& events, std::string_view name, std::size_t from = 0,
    const std::function<bool(const nlohmann::json&)>& pred = {}) {
    for (std::size_t i = from; i < events.size(); ++i) {
        if (events[i].value("event", "") == name && (!pred || pred(events[i]))) return i;
    }
    return std::nullopt;
}

}  // namespace netcrypto::testing
