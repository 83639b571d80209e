namespace UnifiedLlm.Bench;

/// <summary>The ways to the stub upstream that the bench compares, as they are named in the report and in --paths.</summary>
internal static class PathNames
{
    public const string Direct = "direct";
    public const string Nginx = "nginx";
    public const string NginxLogged = "nginx + access log";
    public const string UllmdTcp = "ullmd TCP";
    public const string UllmdUnix = "ullmd unix";
    public const string UllmdCacheHit = "ullmd TCP cache hit";
    public const string Portkey = "Portkey";
    public const string BareRelay = UnifiedLlm.Bench.BareRelay.Name;

    /// <summary>Added to a proxy's name for its second process, the one in front of the streaming stub.</summary>
    public const string StreamSuffix = " (streams)";

    public static IReadOnlyList<string> All { get; } = [Direct, Nginx, NginxLogged, UllmdTcp, UllmdUnix, UllmdCacheHit, Portkey, BareRelay];
}
