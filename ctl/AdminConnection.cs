using Grpc.Net.Client;

namespace UnifiedLlm.Ctl;

/// <summary>A gRPC channel to ullmd's admin unix socket.</summary>
internal static class AdminConnection
{
    public const string DefaultSocket = "/run/unified-llm/admin.sock";

    public static string ResolveSocket(string? option) =>
        option is { Length: > 0 } ? option
        : Environment.GetEnvironmentVariable("ULLM_ADMIN_SOCKET") is { Length: > 0 } env ? env
        : DefaultSocket;

    public static GrpcChannel Open(string socketPath) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = UnixSocketHttp.Handler(socketPath), DisposeHttpClient = true });
}
