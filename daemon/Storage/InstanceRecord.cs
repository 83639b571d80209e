
namespace UnifiedLlm.Daemon.Storage;

/// <summary>One backend instance ullmd planned or runs (a row of <c>instances</c>).</summary>
internal sealed record InstanceRecord
{
    public required string Id { get; init; }

    public required string Model { get; init; }

    /// <summary>"llamacpp", "ollama", "vllm" or "generic" (<see cref="BackendKinds"/>; "llama.cpp" in rows of an older ullmd).</summary>
    public required string Backend { get; init; }

    public required string Unit { get; init; }

    public string? InvocationId { get; init; }

    public required InstanceState State { get; init; }

    public required DateTimeOffset StateSince { get; init; }

    public int? Port { get; init; }

    public int? MainPid { get; init; }

    public IReadOnlyList<int> Gpus { get; init; } = [];

    public int? GpuLayers { get; init; }

    public int? Context { get; init; }

    public long? EstimatedBytes { get; init; }

    public string? PlanJson { get; init; }

    /// <summary>Why the instance failed (the message of its last move to <see cref="InstanceState.Failed"/>).</summary>
    public string? Failure { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    public DateTimeOffset? LastUsedAt { get; init; }
}

/// <summary>Fields learnt along the way that a state change records with it; null leaves a field as it is.</summary>
internal sealed record InstanceUpdate(int? Port = null, int? MainPid = null, string? InvocationId = null);

internal sealed record InstanceTransition(InstanceState State, DateTimeOffset At, string? Message);
