namespace UnifiedLlm.Daemon.Storage;

/// <summary>
/// An instance's life: planned (placement chosen) → starting (room being made) → loading (backend starting) → ready →
/// draining (leases finishing before the stop) → stopped; any state may end in failed.
/// </summary>
internal enum InstanceState
{
    Planned,
    Starting,
    Loading,
    Ready,
    Draining,
    Stopped,
    Failed,
}
