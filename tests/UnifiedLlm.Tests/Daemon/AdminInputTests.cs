using System.Globalization;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Ctl;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Daemon;

/// <summary>
/// Hostile admin requests against a real ullmd (issue #21): over-long names, out-of-range timestamps and bytes that
/// are no message are INVALID_ARGUMENT naming the field, with bounded echoes and without stack traces in the log.
/// </summary>
[Collection(nameof(DaemonProcessTests))]
public sealed class AdminInputTests : IDisposable
{
    private static readonly TimeSpan CallLimit = TimeSpan.FromSeconds(20);
    private readonly TempDirectory dir = new("ullmd-admin-input");

    public void Dispose() => dir.Dispose();

    [Fact]
    public async Task An_over_long_model_name_is_refused_with_a_bounded_echo_and_exit_2()
    {
        var paths = DaemonProcess.WriteConfig(dir, "\n[models.tiny]\nbackend = \"llamacpp\"\nsource = \"/models/tiny.gguf\"\n");
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        var name = new string('m', 100_000);

        var shown = await daemon.CtlAsync("model", "show", name);

        Assert.Equal(2, shown.ExitCode);
        Assert.Equal(
            $"ullmctl: name: '{new string('m', 64)}… (100000 characters)' is longer than a name can be (64 characters)\n",
            shown.StandardError);

        // A name of 3 MB is refused before it is decoded, every time, and leaves the daemon as it was.
        using var channel = Open(paths.AdminSocket);
        var client = new UnifiedLlm.Admin.V1.Admin.AdminClient(channel);
        var resident = ResidentBytes(daemon.Pid);
        var huge = new string('x', 3 << 20);
        for (var i = 0; i < 18; i++)
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => client.GetModelAsync(new GetModelRequest { Name = huge }, deadline: DateTime.UtcNow + CallLimit).ResponseAsync);
            Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        }

        Assert.Equal("tiny", (await client.GetModelAsync(new GetModelRequest { Name = "tiny" }, deadline: DateTime.UtcNow + CallLimit)).Name);
        Assert.True(ResidentBytes(daemon.Pid) - resident < 200L << 20, $"ullmd grew from {resident >> 20} MiB to {ResidentBytes(daemon.Pid) >> 20} MiB");

        // Names just within the limit are looked up and not found, with the whole name echoed.
        var missing = await Assert.ThrowsAsync<RpcException>(() => client.GetModelAsync(new GetModelRequest { Name = new string('q', 64) }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Out_of_range_times_and_undecodable_requests_are_invalid_argument_naming_the_field_without_a_stack_trace()
    {
        var paths = DaemonProcess.WriteConfig(dir);
        await using var daemon = await DaemonProcess.StartAsync(dir, paths);
        using var channel = Open(paths.AdminSocket);
        var client = new UnifiedLlm.Admin.V1.Admin.AdminClient(channel);

        var expires = await Assert.ThrowsAsync<RpcException>(() => client.CreateApiKeyAsync(
            new CreateApiKeyRequest { Name = "ci", ExpiresAt = new Timestamp { Seconds = 999_999_999_999_999 } }, deadline: DateTime.UtcNow + CallLimit).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, expires.StatusCode);
        Assert.StartsWith("expires_at: seconds 999999999999999 is outside", expires.Status.Detail);

        var since = await Assert.ThrowsAsync<RpcException>(() => client.QueryAuditAsync(
            new QueryAuditRequest { Since = new Timestamp { Seconds = 0, Nanos = 2_000_000_000 } }, deadline: DateTime.UtcNow + CallLimit).ResponseAsync);
        Assert.Equal((StatusCode.InvalidArgument, "since: nanos 2000000000 is outside 0 to 999999999"), (since.StatusCode, since.Status.Detail));

        var tokens = await Assert.ThrowsAsync<RpcException>(() => client.CreateApiKeyAsync(
            new CreateApiKeyRequest { Name = "ci", TokensPerMinute = ulong.MaxValue }, deadline: DateTime.UtcNow + CallLimit).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, tokens.StatusCode);
        Assert.StartsWith("tokens_per_minute: 18446744073709551615 is above the maximum", tokens.Status.Detail);

        // Field 1 of GetModelRequest as a length-delimited string that claims more bytes than follow.
        var raw = new Method<byte[], byte[]>(MethodType.Unary, "ullm.admin.v1.Admin", "GetModel", Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var undecodable = await Assert.ThrowsAsync<RpcException>(() =>
            channel.CreateCallInvoker().AsyncUnaryCall(raw, null, new CallOptions(deadline: DateTime.UtcNow + CallLimit), [0x0A, 0x7F, 0x41]).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, undecodable.StatusCode);
        Assert.StartsWith("the request is not a valid GetModelRequest message:", undecodable.Status.Detail);

        // The daemon still answers, and its log has no handler exception in it.
        Assert.Empty((await client.ListApiKeysAsync(new ListApiKeysRequest(), deadline: DateTime.UtcNow + CallLimit)).Keys);
        Assert.Equal(0, await daemon.StopAsync());
        Assert.DoesNotContain("Exception was thrown by handler", daemon.Output);
        Assert.DoesNotContain("   at ", daemon.Output);
    }

    private static GrpcChannel Open(string socket) =>
        GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = UnixSocketHttp.Handler(socket), DisposeHttpClient = true });

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
