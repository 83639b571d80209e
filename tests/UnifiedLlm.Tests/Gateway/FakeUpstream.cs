using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace UnifiedLlm.Tests.Gateway;

/// <summary>
/// A real HTTP server on loopback playing an upstream (OpenAI-compatible or Anthropic) with a handler the test sets,
/// recording every request it got and whether the gateway aborted it.
/// </summary>
internal sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication app;

    private FakeUpstream(WebApplication app) => this.app = app;

    public Func<HttpContext, JsonObject, Task> Handler { get; set; } = (c, _) => WriteJsonAsync(c, Completion("hello"));

    public ConcurrentQueue<(string Path, IReadOnlyDictionary<string, string> Headers, JsonObject Body)> Requests { get; } = new();

    /// <summary>Completes when a request's connection was aborted by the client (the gateway).</summary>
    public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Uri BaseAddress { get; private set; } = null!;

    public Uri V1 => new(BaseAddress, "v1");

    public static async Task<FakeUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http1));
        var app = builder.Build();
        var upstream = new FakeUpstream(app);
        app.Run(async context =>
        {
            // A GET has no body to parse (a peer's status read).
            var body = context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false
                ? []
                : await JsonNode.ParseAsync(context.Request.Body) as JsonObject ?? [];
            upstream.Requests.Enqueue((context.Request.Path, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), body));
            context.RequestAborted.Register(() => upstream.Aborted.TrySetResult());
            try
            {
                await upstream.Handler(context, body);
            }
            catch (Exception e) when (context.RequestAborted.IsCancellationRequested && e is OperationCanceledException or IOException)
            {
            }
        });
        await app.StartAsync();
        upstream.BaseAddress = new Uri(app.Urls.First() + "/");
        return upstream;
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await app.StopAsync(stop.Token);
        await app.DisposeAsync();
    }

    public static JsonObject Completion(string text, string model = "upstream-model", int prompt = 5, int completion = 2) => new()
    {
        ["id"] = "chatcmpl-1",
        ["object"] = "chat.completion",
        ["created"] = 1,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text },
            ["finish_reason"] = "stop",
        }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion },
    };

    public static JsonObject Chunk(string? content, string? finish = null, bool role = false)
    {
        var delta = new JsonObject();
        if (role)
        {
            delta["role"] = "assistant";
            delta["content"] = "";
        }

        if (content is not null)
        {
            delta["content"] = content;
        }

        return new JsonObject
        {
            ["id"] = "chatcmpl-1",
            ["object"] = "chat.completion.chunk",
            ["created"] = 1,
            ["model"] = "upstream-model",
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
        };
    }

    public static JsonObject UsageChunk(int prompt, int completion) => new()
    {
        ["id"] = "chatcmpl-1",
        ["object"] = "chat.completion.chunk",
        ["created"] = 1,
        ["model"] = "upstream-model",
        ["choices"] = new JsonArray(),
        ["usage"] = new JsonObject { ["prompt_tokens"] = prompt, ["completion_tokens"] = completion, ["total_tokens"] = prompt + completion },
    };

    public static async Task WriteJsonAsync(HttpContext context, JsonNode body, int status = 200)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString());
    }

    public static async Task StartSseAsync(HttpContext context)
    {
        context.Response.ContentType = "text/event-stream";
        await context.Response.StartAsync();
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public static async Task SendAsync(HttpContext context, JsonNode data, string? eventName = null)
    {
        var text = (eventName is null ? "" : $"event: {eventName}\n") + $"data: {data.ToJsonString()}\n\n";
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    public static async Task SendRawAsync(HttpContext context, string text)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>A stream of the given content pieces, then a finish chunk, usage and [DONE].</summary>
    public static async Task StreamAsync(HttpContext context, params string[] pieces)
    {
        await StartSseAsync(context);
        await SendAsync(context, Chunk(null, role: true));
        foreach (var piece in pieces)
        {
            await SendAsync(context, Chunk(piece));
        }

        await SendAsync(context, Chunk(null, "stop"));
        await SendAsync(context, UsageChunk(5, pieces.Length));
        await SendRawAsync(context, "data: [DONE]\n\n");
    }

    /// <summary>A Responses API response object as OpenAI's /v1/responses answers it: one assistant message, with usage.</summary>
    public static JsonObject ResponseObject(string text, string status = "completed", int input = 5, int output = 2) => new()
    {
        ["id"] = "resp_upstream",
        ["object"] = "response",
        ["created_at"] = 1,
        ["status"] = status,
        ["error"] = null,
        ["incomplete_details"] = null,
        ["model"] = "upstream-model",
        ["output"] = status == "in_progress" ? new JsonArray() : new JsonArray(ResponseMessage(text, "completed")),
        ["parallel_tool_calls"] = true,
        ["previous_response_id"] = null,
        ["store"] = false,
        ["usage"] = status == "in_progress" ? null : new JsonObject
        {
            ["input_tokens"] = input,
            ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = 0 },
            ["output_tokens"] = output,
            ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0 },
            ["total_tokens"] = input + output,
        },
        ["metadata"] = new JsonObject(),
    };

    public static JsonObject ResponseMessage(string text, string status) => new()
    {
        ["id"] = "msg_upstream",
        ["type"] = "message",
        ["status"] = status,
        ["role"] = "assistant",
        ["content"] = status == "in_progress" ? new JsonArray() : new JsonArray(new JsonObject { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() }),
    };

    /// <summary>
    /// The events of a Responses API stream as OpenAI sends them, each with its event line and sequence_number from 0:
    /// created, in_progress, the message item and its part, a delta per piece, the text's done events, then
    /// response.completed (and no [DONE]). <paramref name="upTo"/> stops after that many events.
    /// </summary>
    public static IEnumerable<JsonObject> ResponsesEvents(string[] pieces, int upTo = int.MaxValue)
    {
        var text = string.Concat(pieces);
        var events = new List<JsonObject>
        {
            new() { ["type"] = "response.created", ["response"] = ResponseObject("", "in_progress") },
            new() { ["type"] = "response.in_progress", ["response"] = ResponseObject("", "in_progress") },
            new() { ["type"] = "response.output_item.added", ["output_index"] = 0, ["item"] = ResponseMessage("", "in_progress") },
            new() { ["type"] = "response.content_part.added", ["item_id"] = "msg_upstream", ["output_index"] = 0, ["content_index"] = 0, ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = "", ["annotations"] = new JsonArray() } },
        };
        events.AddRange(pieces.Select(p => new JsonObject { ["type"] = "response.output_text.delta", ["item_id"] = "msg_upstream", ["output_index"] = 0, ["content_index"] = 0, ["delta"] = p, ["logprobs"] = new JsonArray() }));
        events.Add(new() { ["type"] = "response.output_text.done", ["item_id"] = "msg_upstream", ["output_index"] = 0, ["content_index"] = 0, ["text"] = text, ["logprobs"] = new JsonArray() });
        events.Add(new() { ["type"] = "response.content_part.done", ["item_id"] = "msg_upstream", ["output_index"] = 0, ["content_index"] = 0, ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() } });
        events.Add(new() { ["type"] = "response.output_item.done", ["output_index"] = 0, ["item"] = ResponseMessage(text, "completed") });
        events.Add(new() { ["type"] = "response.completed", ["response"] = ResponseObject(text, output: pieces.Length) });
        for (var i = 0; i < events.Count; i++)
        {
            var numbered = new JsonObject { ["type"] = events[i]["type"]!.DeepClone(), ["sequence_number"] = i };
            foreach (var (name, value) in events[i].Where(p => p.Key != "type").ToList())
            {
                numbered[name] = value?.DeepClone();
            }

            events[i] = numbered;
        }

        return events.Take(upTo);
    }

    /// <summary>Sends <see cref="ResponsesEvents"/> as server-sent events.</summary>
    public static async Task ResponsesStreamAsync(HttpContext context, string[] pieces, int upTo = int.MaxValue)
    {
        await StartSseAsync(context);
        foreach (var data in ResponsesEvents(pieces, upTo))
        {
            await SendAsync(context, data, data["type"]!.GetValue<string>());
        }
    }

    public static string Json(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}
