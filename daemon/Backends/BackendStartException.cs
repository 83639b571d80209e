namespace UnifiedLlm.Daemon.Backends;

/// <summary>A backend did not become ready: it exited, timed out, or refused; the message says why, with its last log lines.</summary>
internal sealed class BackendStartException(string message, Exception? inner = null) : Exception(message, inner);
