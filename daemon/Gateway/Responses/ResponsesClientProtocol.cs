using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// Answers POST /v1/responses: <see cref="TranslateAsync"/> makes the chat request the pipeline serves, and the
/// pipeline's chat completion (or chunks) become a response object (or Responses stream events, via
/// <see cref="ResponseStream"/>), stored before the client sees it finished. One per request: it keeps the turn's state.
/// Error messages carry the request id.
/// </summary>
internal sealed class ResponsesClientProtocol(ResponsesService service) : IClientProtocol
{
    private ClientIdentity? client;
    private ResponsesTurn? turn;
    private ResponseStream? stream;

    private ResponsesTurn Turn => turn ?? throw new InvalidOperationException("the request was not translated");

    /// <summary>The request as the client sent it (the chain put into its input), for a provider that speaks the Responses API.</summary>
    public NativeApi? Native { get; private set; }

    public async ValueTask<JsonObject> TranslateAsync(ClientIdentity caller, JsonObject body, CancellationToken cancellationToken)
    {
        client = caller;
        turn = await service.PrepareAsync(caller, body, cancellationToken);
        Native = new NativeApi(WireFormat.Responses, turn.Native, new ResponsesPassThrough(service, caller, turn.Draft)) { Untranslatable = turn.Untranslatable };
        return turn.Chat ?? turn.Native;
    }

    public Task WriteErrorAsync(HttpContext context, GatewayException error)
    {
        var withId = WithRequestId(context, error);
        return OpenAiErrors.WriteAsync(context, withId, OpenAiErrors.Body(withId));
    }

    public async Task WriteResponseAsync(HttpContext context, byte[] openAiBody)
    {
        var response = Turn.Draft.FromCompletion(JsonNode.Parse(openAiBody)!);
        await service.SaveAsync(client!, Turn.Draft, response, context.RequestAborted);
        await ClientResponse.WriteJsonAsync(context, response);
    }

    public async Task BeginStreamAsync(HttpContext context)
    {
        await ClientResponse.BeginEventStreamAsync(context);
        stream = new ResponseStream(Turn.Draft);
        await WriteEventsAsync(context, stream.Start());
    }

    public void WriteChunk(HttpContext context, ReadOnlyMemory<byte> openAiChunk) =>
        WriteEvents(context, stream!.Chunk(JsonNode.Parse(openAiChunk.Span)!));

    public async Task EndStreamAsync(HttpContext context)
    {
        var events = stream!.Finish();
        try
        {
            await service.SaveAsync(client!, Turn.Draft, stream.Final!, context.RequestAborted);
        }
        catch (GatewayException e)
        {
            await FailStreamAsync(context, e);
            return;
        }

        await WriteEventsAsync(context, events);
    }

    public Task FailStreamAsync(HttpContext context, GatewayException error) => WriteEventsAsync(context, [stream!.Fail(WithRequestId(context, error))]);

    /// <summary>The error with the request id in its message, so that a client's report of it can be found in the audit log.</summary>
    public static GatewayException WithRequestId(HttpContext context, GatewayException error) =>
        new(error.StatusCode, $"{error.Message} (request {RequestIds.Of(context)})", error.Param, error.Code, error.RetryAfter);

    private static async Task WriteEventsAsync(HttpContext context, List<JsonObject> events)
    {
        WriteEvents(context, events);
        await ClientStream.FlushAsync(context);
    }

    private static void WriteEvents(HttpContext context, List<JsonObject> events)
    {
        var writer = context.Response.BodyWriter;
        foreach (var data in events)
        {
            writer.Write(Encoding.UTF8.GetBytes($"event: {(string)data["type"]!}\ndata: "));
            writer.Write(NodeJson.Utf8(data));
            writer.Write("\n\n"u8);
        }
    }
}
