namespace UnifiedLlm.Daemon.Backends.Rpc;

/// <summary>An RPC worker did not answer as ggml's RPC protocol says; the message names what was wrong.</summary>
internal sealed class RpcProbeException(string message) : Exception(message);
