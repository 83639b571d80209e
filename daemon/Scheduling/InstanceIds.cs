using System.Security.Cryptography;

namespace UnifiedLlm.Daemon.Scheduling;

/// <summary>
/// Instance ids: 8 random hex digits, used as <c>instances.id</c> and as the short id in the unit name, so they stay
/// distinct across restarts of ullmd (a counter would hand out the ids of units a previous ullmd left running).
/// </summary>
internal static class InstanceIds
{
    public static string New() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
}
