// netcrypto: connect two machines (or this tool and a Tox client) over Tox's net_crypto.
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include <netcrypto/version.hpp>

#include "cli/commands.hpp"

namespace {

using netcrypto::cli::Outcome;

void add_peer_options(CLI::App& cmd, netcrypto::cli::PeerOptions& o, bool is_listen) {
    cmd.add_option("--key", o.key_file, "Long-term secret key file (from `netcrypto keygen`)")
        ->required();
    cmd.add_option("--dht-key", o.dht_key_file,
                   "DHT secret key file, same format (default: a fresh DHT key pair for this "
                   "run; a listener reached through relays needs a fixed one)");
    cmd.add_option("--bind", o.bind,
                   is_listen ? "Local UDP address HOST:PORT (required unless --no-udp)"
                             : "Local UDP address HOST:PORT");
    cmd.add_option("--relay", o.relays,
                   "TCP relay HOST:PORT:KEY (KEY: the relay's 64-hex public key; repeatable)");
    cmd.add_flag("--no-udp", o.no_udp, "No UDP at all: use the --relay relays only");
    cmd.add_option("--loss", o.loss_percent, "Drop this percentage of datagrams (testing)")
        ->check(CLI::Range(0.0, 100.0));
    cmd.add_option("--name", o.name,
                   "Our Tox name, shown by the peer's client (default netcrypto)");
    cmd.add_option("--status-message", o.status_message, "Our Tox status message");
}

int report(const Outcome<void>& r) {
    if (r) return 0;
    std::cerr << "netcrypto: error: " << r.error().message << std::endl;
    return r.error().exit_code;
}

std::size_t bind_given(const CLI::App& cmd) { return cmd.count("--bind"); }

/// Every option of every subcommand; add() declares them on the parser.
struct Commands {
    bool json = false;
    std::string keygen_out;
    std::string id_key;
    std::string id_dht_key;
    netcrypto::cli::ListenOptions listen_opts;
    netcrypto::cli::ConnectOptions connect_opts;
    netcrypto::cli::ConnectOptions chat_opts;
    netcrypto::cli::DemoOptions demo_opts;
    CLI::App* keygen = nullptr;
    CLI::App* id = nullptr;
    CLI::App* listen = nullptr;
    CLI::App* connect = nullptr;
    CLI::App* chat = nullptr;
    CLI::App* demo = nullptr;

    void add(CLI::App& app) {
        app.add_flag("--json", json, "Events on stderr as one JSON object per line");
        // Options of the main command (--json) are also accepted after the subcommand.
        app.fallthrough();

        keygen = app.add_subcommand(
            "keygen", "Create a long-term secret key file (mode 0600); print its key and Tox ID");
        keygen->add_option("--out", keygen_out, "Where to write the key file")->required();

        id = app.add_subcommand("id", "Print the public key and Tox ID of a secret key file");
        id->add_option("--key", id_key, "Secret key file")->required();
        id->add_option("--dht-key", id_dht_key,
                       "Also print the DHT public key of this DHT secret key file");

        listen = app.add_subcommand("listen",
                                    "Accept connections and write the received stream to stdout");
        add_peer_options(*listen, listen_opts, true);
        listen->add_option("--allow", listen_opts.allow,
                           "Accept only this peer public key (repeatable; default: anyone)");
        listen->add_flag("--once", listen_opts.once, "Exit after the first connection ends");
        listen->add_option("--exec", listen_opts.exec,
                           "Run this shell command per connection, wired to that peer's stream");
        listen
            ->add_option("--max-peers", listen_opts.max_peers,
                         "With --exec: most peers served at once (default 64)")
            ->check(CLI::Range(1U, 100000U));

        connect =
            app.add_subcommand("connect", "Stream stdin to a peer and the peer's stream to stdout");
        chat = app.add_subcommand(
            "chat", "Send each stdin line as a text message; print received messages");
        add_connect_options(*connect, connect_opts);
        add_connect_options(*chat, chat_opts);
        chat->add_flag("--once", chat_opts.once,
                       "Exit when the session ends (default: report the friend offline and keep "
                       "reconnecting until stdin ends)");

        demo = app.add_subcommand(
            "demo",
            "Two endpoints over loopback UDP in one process: handshake, bulk transfer, hash");
        demo->add_option("--bytes", demo_opts.bytes, "Bytes to move (default 256 MiB)");
        demo->add_option("--loss", demo_opts.loss_percent, "Drop this percentage of datagrams")
            ->check(CLI::Range(0.0, 90.0));
    }

    static void add_connect_options(CLI::App& cmd, netcrypto::cli::ConnectOptions& o) {
        add_peer_options(cmd, o, false);
        cmd.add_option("--to", o.to,
                       "Peer UDP address HOST[:PORT] (default port 33445; required unless "
                       "--relay is given)");
        cmd.add_option("--peer", o.peer, "Peer Tox ID (76 hex) or long-term public key (64 hex)")
            ->required();
        cmd.add_option("--peer-dht", o.peer_dht,
                       "Peer DHT public key (64 hex; default: learnt from the address; "
                       "required without --to)");
        cmd.add_option("--timeout", o.timeout,
                       "Give up if not established after this many seconds (default: the "
                       "protocol's 8 tries, about 8 s)");
    }

    /// Runs the subcommand the parser selected.
    int dispatch() {
        if (*keygen) return report(netcrypto::cli::run_keygen(keygen_out, json));
        if (*id) return report(netcrypto::cli::run_id(id_key, id_dht_key, json));
        if (*listen) {
            listen_opts.json = json;
            if (!listen_opts.no_udp && bind_given(*listen) == 0) {
                return report(netcrypto::cli::fail(
                    "listen needs --bind HOST:PORT (or --no-udp with --relay)", 2));
            }
            return report(netcrypto::cli::run_listen(listen_opts));
        }
        if (*connect || *chat) {
            const bool is_chat = static_cast<bool>(*chat);
            auto& o = is_chat ? chat_opts : connect_opts;
            o.json = json;
            o.plain_ready = !is_chat;
            if (o.bind == "0.0.0.0:0" && o.to.starts_with('[')) o.bind = "[::]:0";
            return report(is_chat ? netcrypto::cli::run_chat(o) : netcrypto::cli::run_connect(o));
        }
        if (*demo) {
            demo_opts.json = json;
            return report(netcrypto::cli::run_demo(demo_opts));
        }
        return 2;
    }
};

/// The whole program; main() adds the last-resort error report.
int run(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    CLI::App app{
        "netcrypto: encrypted connections over Tox's net_crypto protocol (c-toxcore "
        "0.2.18 compatible)"};
    app.set_version_flag("--version", std::string("netcrypto ") +
                                          std::string(netcrypto::version()) + " (libsodium " +
                                          std::string(netcrypto::sodium_version()) + ")");
    // --version (like --help) ends the parse before the subcommand requirement is checked.
    app.require_subcommand(1);
    Commands commands;
    commands.add(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    return commands.dispatch();
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "netcrypto: error: " << e.what() << std::endl;
    } catch (...) {
        std::cerr << "netcrypto: error: unknown exception" << std::endl;
    }
    return 1;
}
