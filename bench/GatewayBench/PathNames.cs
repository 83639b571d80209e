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
    /// <summary>The CPU yardstick: Kestrel in, HttpClient out (bench/BareRelay, Native AOT).</summary>
    public const string BareRelay = "bare .NET relay";

    /// <summary>The same with YARP's IHttpForwarder in place of the hand-written relay.</summary>
    public const string YarpRelay = "bare YARP relay";

    /// <summary>Added to a proxy's name for its second process, the one in front of the streaming stub.</summary>
    public const string StreamSuffix = " (streams)";

    public static IReadOnlyList<string> All { get; } = [Direct, Nginx, NginxLogged, UllmdTcp, UllmdUnix, UllmdCacheHit, Portkey, BareRelay, YarpRelay];
}
