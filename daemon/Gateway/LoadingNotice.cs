using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Routing;
using UnifiedLlm.Daemon.Scheduling;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway;

/// <summary>
/// With <c>[router] loading_notice = true</c>, tells a streaming OpenAI chat request that waits on a cold load where the
/// load stands: each stage the scheduler reports for the request's local targets becomes a chunk whose delta carries it
/// as <c>reasoning_content</c> (as llama-swap's sendLoadingState does), before the first token. The stream begins with
/// the first notice; while no load is in flight nothing is written, so a request on a ready model sees nothing extra.
/// It is stopped before the answer is relayed or an error is written, so the two never write at once.
/// </summary>
internal sealed class LoadingNotice : IAsyncDisposable
{
    private readonly HttpContext context;
    private readonly IClientProtocol protocol;
    private readonly string id;
    private readonly string model;
    private readonly long created;
    private readonly List<LoadWatch> watches;
    private readonly CancellationTokenSource stop;
    private readonly Task writing;
    private bool stopped;

    private LoadingNotice(HttpContext context, IClientProtocol protocol, string id, string model, long created, List<LoadWatch> watches)
    {
        this.context = context;
        this.protocol = protocol;
        this.id = id;
        this.model = model;
        this.created = created;
        this.watches = watches;
        stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        writing = WriteAsync(stop.Token);
    }

    /// <summary>The notice for this request, or null when it gets none (off, not a streaming OpenAI chat, no local target).</summary>
    public static LoadingNotice? Begin(
        HttpContext context, IClientProtocol protocol, ProxyRequest request, RoutePlan plan, LoadProgressBoard board, bool enabled, string requestId, DateTimeOffset now)
    {
        if (!enabled || !request.Stream || request.Kind != EndpointKind.ChatCompletions || protocol is not OpenAiClientProtocol)
        {
            return null;
        }

        var locals = plan.Targets.Where(t => t.IsLocal).Select(t => t.Model).Distinct(StringComparer.Ordinal).ToList();
        return locals.Count == 0
            ? null
            : new LoadingNotice(context, protocol, "chatcmpl-" + requestId, request.Model, now.ToUnixTimeSeconds(), [.. locals.Select(board.Watch)]);
    }

    /// <summary>Stops the notice (before the answer or an error is written); later calls do nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (stopped)
        {
            return;
        }

        stopped = true;
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await writing.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting for a step or writing one: the request goes on (or ends) without it.
        }

        foreach (var watch in watches)
        {
            watch.Dispose();
        }

        stop.Dispose();
    }

    private async Task WriteAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.WhenAny(watches.Select(w => w.Steps.WaitToReadAsync(cancellationToken).AsTask())).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var watch in watches)
            {
                while (watch.Steps.TryRead(out var step))
                {
                    if (!context.Response.HasStarted)
                    {
                        await protocol.BeginStreamAsync(context).ConfigureAwait(false);
                    }

                    await protocol.WriteChunkAsync(context, Chunk(step)).ConfigureAwait(false);
                }
            }
        }
    }

    private byte[] Chunk(LoadStep step) => NodeJson.Utf8(new JsonObject
    {
        ["id"] = id,
        ["object"] = "chat.completion.chunk",
        ["created"] = created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["delta"] = new JsonObject { ["role"] = "assistant", ["reasoning_content"] = Text(step) },
            ["finish_reason"] = null,
        }),
    });

    /// <summary>One line per stage: "ullmd: loading tiny: starting unit: GPU0, ...".</summary>
    public static string Text(LoadStep step) => $"ullmd: loading {step.Model}: {LoadStages.Names.NameOf(step.Stage)}{(step.Detail.Length > 0 ? ": " + step.Detail : "")}\n";
}
