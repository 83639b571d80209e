using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UnifiedLlm.Admin.V1;
using UnifiedLlm.Tests.Support;

namespace UnifiedLlm.Tests.Ctl;

/// <summary>
/// A gRPC admin server on a unix socket that answers LoadModel, SwitchModel, UnloadModel and StreamLogs from a script,
/// over the real wire protocol, and every other call UNIMPLEMENTED, as an ullmd older than ullmctl would. It stands in for
/// ullmd's scheduler and supervisor so that the real ullmctl's progress display, detaching, failure and Ctrl-C handling
/// can be exercised with timings and failures a real load does not give on demand. Records whether the client
/// cancelled a stream.
/// </summary>
internal sealed class ScriptedAdminServer : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly TempDirectory dir;

    private ScriptedAdminServer(WebApplication app, TempDirectory dir, Script script)
    {
        this.app = app;
        this.dir = dir;
        Scripted = script;
    }

    public string Socket => dir.File("admin.sock");

    public Script Scripted { get; }

    public static async Task<ScriptedAdminServer> StartAsync(Script script)
    {
        var dir = new TempDirectory("ullm-scripted-admin");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(dir.File("admin.sock"), o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(script);
        var app = builder.Build();
        app.MapGrpcService<ScriptedAdmin>();
        await app.StartAsync();
        return new ScriptedAdminServer(app, dir, script);
    }

    public Task<ProcessResult> CtlAsync(params string[] arguments) =>
        ProcessRunner.DotnetAsync(RepoPaths.Ullmctl, arguments.Prepend(Socket).Prepend("--socket"), new Dictionary<string, string> { ["TZ"] = "UTC" });

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        dir.Dispose();
    }

    /// <summary>What the server answers: progress messages (each after its delay), then either the end of the stream or a wait for the client to go away.</summary>
    internal sealed class Script
    {
        public List<(TimeSpan Delay, LoadProgress Progress)> Progress { get; } = [];

        public bool HoldOpenAfterProgress { get; init; }

        public List<LogLine> Logs { get; } = [];

        public TaskCompletionSource ClientCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The first request a streaming or logs call received.</summary>
        public TaskCompletionSource<object> Received { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<UnloadModelRequest> Unloaded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class ScriptedAdmin(Script script) : UnifiedLlm.Admin.V1.Admin.AdminBase
    {
        public override Task LoadModel(LoadModelRequest request, IServerStreamWriter<LoadProgress> responseStream, ServerCallContext context)
        {
            script.Received.TrySetResult(request);
            return PlayAsync(responseStream, context);
        }

        public override Task SwitchModel(SwitchModelRequest request, IServerStreamWriter<LoadProgress> responseStream, ServerCallContext context)
        {
            script.Received.TrySetResult(request);
            return PlayAsync(responseStream, context);
        }

        public override Task<UnloadModelResponse> UnloadModel(UnloadModelRequest request, ServerCallContext context)
        {
            script.Unloaded.TrySetResult(request);
            return request.Name == "pinned" && !request.Force
                ? throw new RpcException(new Status(StatusCode.FailedPrecondition, "pinned is pinned: unload it with force"))
                : Task.FromResult(new UnloadModelResponse { Model = request.Name, Unit = $"ullm-{request.Name}-1.service", DrainedRequests = 2, ElapsedMs = 1500 });
        }

        public override async Task StreamLogs(StreamLogsRequest request, IServerStreamWriter<LogLine> responseStream, ServerCallContext context)
        {
            script.Received.TrySetResult(request);
            foreach (var line in script.Logs)
            {
                await responseStream.WriteAsync(line, context.CancellationToken);
            }

            if (request.Follow)
            {
                await WaitForCancelAsync(context);
            }
        }

        private async Task PlayAsync(IServerStreamWriter<LoadProgress> responseStream, ServerCallContext context)
        {
            try
            {
                foreach (var (delay, progress) in script.Progress)
                {
                    await Task.Delay(delay, context.CancellationToken);
                    await responseStream.WriteAsync(progress, context.CancellationToken);
                }
            }
            catch (OperationCanceledException)
            {
                script.ClientCancelled.TrySetResult();
                throw;
            }

            if (script.HoldOpenAfterProgress)
            {
                await WaitForCancelAsync(context);
            }
        }

        private async Task WaitForCancelAsync(ServerCallContext context)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
            }
            catch (OperationCanceledException)
            {
                script.ClientCancelled.TrySetResult();
            }
        }
    }
}
