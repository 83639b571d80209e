namespace UnifiedLlm.Daemon.Config;

/// <summary>
/// This host as a llama.cpp RPC worker (<c>[rpc_worker]</c>): ullmd keeps <c>ggml-rpc-server</c> running on
/// <see cref="ListenHost"/>:<see cref="ListenPort"/> (an IPv4 address), exposing <see cref="Devices"/> (empty: every device it finds, its own default), with its
/// tensor cache on disk when <see cref="Cache"/> is set.
/// </summary>
internal sealed record RpcWorkerRoleConfig(string ListenHost, int ListenPort, IReadOnlyList<string> Devices, string Executable, bool Cache, int? Threads)
{
    public const string DefaultExecutable = "ggml-rpc-server";
}

/// <summary>
/// A llama.cpp RPC worker this head may place layers on (<c>[rpc_workers.NAME]</c>): its address, how often its
/// devices' memory is read, and the most the planner puts on each of its devices (null: what it reports free).
/// </summary>
internal sealed record RpcWorkerConfig(string Name, string Host, int Port, TimeSpan PollInterval, ulong? MemoryLimitBytes)
{
    public const double DefaultPollSeconds = 5;

    /// <summary>HOST:PORT as llama-server's <c>--rpc</c> takes it.</summary>
    public string Address => $"{Host}:{Port}";
}

/// <summary>
/// The head's side of RPC splits (<c>[rpc_head]</c>): <see cref="HostMemoryBytes"/> caps the host RAM the planner
/// fills with a model's layers and KV cache (null: what the kernel reports available). With workers and no usable GPU,
/// this host's CPU is the first device of a split: its layers go there first, up to that cap.
/// </summary>
internal sealed record RpcHeadConfig(ulong? HostMemoryBytes)
{
    public static readonly RpcHeadConfig Default = new(HostMemoryBytes: null);
}
