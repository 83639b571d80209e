using System.Net;
using System.Net.Sockets;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>
/// A server of the generic-backend tests' own, for the ways a server fails to come up (FAKE_GENERIC picks one); argv
/// is <c>--port P</c>. "never-ready": /health answers 503 forever. "exit": logs two lines and exits 3 before listening.
/// "health-status": /health answers FAKE_HEALTH_STATUS (default 204). "port-taken": waits for the file FAKE_GO_FILE,
/// then fails to listen on a port another program took meanwhile, logs it and keeps running, as servers that retry do.
/// "audio": a working audio server in OpenAI's shapes (<see cref="FakeAudio"/>).
/// </summary>
internal static class FakeGeneric
{
    public static async Task<int> RunAsync(string[] args)
    {
        var port = args is ["--port", var p] ? int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : 0;
        if (port == 0)
        {
            await Console.Error.WriteLineAsync("usage: --port PORT");
            return 2;
        }

        switch (Environment.GetEnvironmentVariable("FAKE_GENERIC"))
        {
            case "never-ready":
                return await ServeAsync(port, 503);
            case "health-status":
                return await ServeAsync(port, int.Parse(Environment.GetEnvironmentVariable("FAKE_HEALTH_STATUS") ?? "204", System.Globalization.CultureInfo.InvariantCulture));
            case "exit":
                Console.WriteLine("fake-generic: loading weights");
                await Console.Error.WriteLineAsync("fake-generic: error: the weights file is truncated");
                return 3;
            case "port-taken":
                return await BindLateAsync(port);
            case "audio":
                return await FakeAudio.ServeAsync(port);
            case var other:
                await Console.Error.WriteLineAsync($"FAKE_GENERIC must be never-ready, health-status, exit, port-taken or audio, not \"{other}\"");
                return 2;
        }
    }

    private static async Task<int> ServeAsync(int port, int healthStatus)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var app = builder.Build();
        app.MapGet("/health", () => Results.StatusCode(healthStatus));
        await app.StartAsync();
        Console.WriteLine($"fake-generic: listening on 127.0.0.1:{port}, /health answers {healthStatus}");
        await app.WaitForShutdownAsync();
        return 0;
    }

    private static async Task<int> BindLateAsync(int port)
    {
        await FakeSettings.WaitForGoAsync();

        using var listener = new TcpListener(IPAddress.Loopback, port);
        try
        {
            listener.Start();
            Console.WriteLine($"fake-generic: listening on 127.0.0.1:{port}");
        }
        catch (SocketException e)
        {
            Console.WriteLine($"fake-generic: cannot listen on 127.0.0.1:{port}: {e.Message}; retrying");
        }

        await Task.Delay(Timeout.Infinite);
        return 0;
    }
}
