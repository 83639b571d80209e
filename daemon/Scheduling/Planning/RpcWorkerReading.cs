using UnifiedLlm.Daemon.Config;

namespace UnifiedLlm.Daemon.Scheduling.Planning;

/// <summary>
/// What is known of one configured worker: its devices' memory at its last answer (<see cref="ReadAt"/>), why the
/// latest read failed (<see cref="Problem"/>, null when it answered), and which of this head's models holds it now
/// (<see cref="HeldBy"/>: a worker serves one client at a time, so it is not read while one of ours uses it).
/// </summary>
internal sealed record RpcWorkerReading(RpcWorkerConfig Worker, IReadOnlyList<RpcDeviceMemory> Devices, DateTimeOffset? ReadAt, string? Problem, string? HeldBy)
{
    /// <summary>Free for a new load: it answered its latest read and no model of this head holds it.</summary>
    public bool Available => Problem is null && HeldBy is null && ReadAt is not null;

    /// <summary>
    /// One line for people: where it is and why it is or is not usable. A held worker that was read all the same (to
    /// explain its model's exit) and failed is named as silent: that is why its model failed.
    /// </summary>
    public string Describe() =>
        $"rpc worker '{Worker.Name}' ({Worker.Address}): "
        + (Problem is { } problem ? $"does not answer: {problem}" : HeldBy is { } model ? $"in use by {model}" : ReadAt is null ? "not read yet" : "answering");
}
