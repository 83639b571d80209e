using System.Runtime.InteropServices;

namespace UnifiedLlm.Daemon.Logging;

/// <summary>The outcome of sending one entry; for a drop or failure, the call that failed and its errno.</summary>
internal readonly record struct JournalSendResult(JournalSendOutcome Outcome, string? FailedCall = null, int Errno = 0)
{
    public static JournalSendResult Sent { get; } = new(JournalSendOutcome.Sent);

    public static JournalSendResult SentAsMemfd { get; } = new(JournalSendOutcome.SentAsMemfd);

    public override string ToString() => FailedCall is null
        ? Outcome.ToString()
        : $"{Outcome}: {FailedCall} failed with errno {Errno} ({Marshal.GetPInvokeErrorMessage(Errno)})";
}
