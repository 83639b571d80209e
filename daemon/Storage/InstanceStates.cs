
namespace UnifiedLlm.Daemon.Storage;

/// <summary>How <see cref="InstanceState"/> is stored in <c>instances.state</c>.</summary>
internal static class InstanceStates
{
    public static string ToDatabase(this InstanceState state) => state.ToString().ToLowerInvariant();

    public static InstanceState FromDatabase(string value) => Enum.TryParse<InstanceState>(value, ignoreCase: true, out var state)
        ? state
        : throw new StorageException($"instances.state holds '{value}', which this ullmd does not know");

    public static bool IsActive(this InstanceState state) => state is not (InstanceState.Stopped or InstanceState.Failed);
}
