namespace UnifiedLlm.Daemon.Systemd.DBus;

internal enum DBusConnectionMode
{
    /// <summary>Through a bus daemon: Hello() first, destinations and senders are bus names, signals need AddMatch.</summary>
    Bus,

    /// <summary>Directly to one peer (e.g. systemd's /run/systemd/private): no Hello, no SENDER, every signal of the peer arrives.</summary>
    PeerToPeer,
}
