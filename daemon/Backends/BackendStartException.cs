namespace UnifiedLlm.Daemon.Backends;

/// <summary>A backend did not come up: the message names the model and says why (the backend's own error where it gave one).</summary>
internal sealed class BackendStartException : Exception
{
    public BackendStartException(string message)
        : base(message)
    {
    }

    public BackendStartException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public BackendStartException()
    {
    }
}
