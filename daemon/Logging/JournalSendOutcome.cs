namespace UnifiedLlm.Daemon.Logging;

/// <summary>What became of one journal entry.</summary>
internal enum JournalSendOutcome
{
    /// <summary>Sent as one datagram.</summary>
    Sent,

    /// <summary>Too large for a datagram; sent as a sealed memfd passed with SCM_RIGHTS.</summary>
    SentAsMemfd,

    /// <summary>No journald listens at the socket path (ENOENT, ECONNREFUSED): dropped quietly.</summary>
    DroppedNoJournal,

    /// <summary>journald's receive queue is full (EAGAIN): dropped, since the sink never blocks.</summary>
    DroppedBusy,

    /// <summary>Any other error: dropped and reported through Serilog's SelfLog.</summary>
    Failed,
}
