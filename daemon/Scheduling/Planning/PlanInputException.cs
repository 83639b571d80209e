namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// The question cannot be planned (wrong backend, unreadable model, no such GPU); the message says which.
/// <see cref="IsBadArgument"/> when the request itself is wrong rather than the model or machine.
/// </summary>
internal sealed class PlanInputException(string message, bool isBadArgument = false) : Exception(message)
{
    public bool IsBadArgument { get; } = isBadArgument;
}
