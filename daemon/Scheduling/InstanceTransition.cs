using UnifiedLlm.Daemon.Storage;

namespace UnifiedLlm.Daemon.Scheduling;

internal sealed record InstanceTransition(InstanceState State, DateTimeOffset At, string? Reason);
