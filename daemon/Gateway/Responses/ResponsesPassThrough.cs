using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// Relays a Responses API upstream's answer (a response object, or its stream of events) as the upstream sent it, but
/// for three fields of the response object that are ullmd's, since ullmd keeps the conversation: its id, store and
/// previous_response_id. The finished response is stored (when asked) before the client sees it: a stream's
/// response.completed (or response.incomplete) is held back until <see cref="EndStreamAsync"/>. One per request.
/// </summary>
internal sealed class ResponsesPassThrough(ResponsesService service, ClientIdentity client, ResponseDraft draft) : IClientProtocol
{
    private JsonObject? latest;
    private JsonObject? final;
    private long sequence = -1;

    public NativeApi? Native => null;

    public Task WriteErrorAsync(HttpContext context, GatewayException error)
    {
        var withId = ResponsesClientProtocol.WithRequestId(context, error);
        return OpenAiErrors.WriteAsync(context, withId, OpenAiErrors.Body(withId));
    }

    public async Task WriteResponseAsync(HttpContext context, byte[] openAiBody)
    {
        var response = Own(JsonNode.Parse(openAiBody)!.AsObject());
        await service.SaveAsync(client, draft, response, context.RequestAborted);
        await ClientResponse.WriteJsonAsync(context, response);
    }

    public Task BeginStreamAsync(HttpContext context) => ClientResponse.BeginEventStreamAsync(context);

    public void WriteChunk(HttpContext context, ReadOnlyMemory<byte> openAiChunk)
    {
        var data = JsonNode.Parse(openAiChunk.Span)!.AsObject();
        if (Json.TryInteger(data["sequence_number"], out var number))
        {
            sequence = Math.Max(sequence, number);
        }

        if (data["response"] is not JsonObject response)
        {
            WriteEvent(context, Json.Text(data["type"]), openAiChunk);
            return;
        }

        latest = Own(response);
        if (Json.Text(data["type"]) is "response.completed" or "response.incomplete")
        {
            final = data;
            return;
        }

        WriteEvent(context, Json.Text(data["type"]), NodeJson.Utf8(data));
    }

    public async Task EndStreamAsync(HttpContext context)
    {
        var last = final ?? throw new InvalidOperationException("the stream ended without its response.completed event");
        try
        {
            await service.SaveAsync(client, draft, last["response"]!.AsObject(), context.RequestAborted);
        }
        catch (GatewayException e)
        {
            await FailStreamAsync(context, e);
            return;
        }

        await WriteEventAsync(context, last);
    }

    /// <summary>response.failed after the last event relayed: the response as it last stood, failed with the error.</summary>
    public Task FailStreamAsync(HttpContext context, GatewayException error)
    {
        var withId = ResponsesClientProtocol.WithRequestId(context, error);
        var response = (JsonObject?)latest?.DeepClone() ?? draft.Build("failed", [], null);
        response["status"] = "failed";
        response["error"] = new JsonObject { ["code"] = withId.Code ?? "server_error", ["message"] = withId.Message };
        return WriteEventAsync(context, new JsonObject { ["type"] = "response.failed", ["sequence_number"] = ++sequence, ["response"] = response });
    }

    /// <summary>The response object with ullmd's id, store and previous_response_id.</summary>
    private JsonObject Own(JsonObject response)
    {
        response["id"] = draft.Id;
        response["store"] = draft.Store;
        response["previous_response_id"] = draft.Request.PreviousResponseId;
        return response;
    }

    private static async Task WriteEventAsync(HttpContext context, JsonObject data)
    {
        WriteEvent(context, Json.Text(data["type"]), NodeJson.Utf8(data));
        await ClientStream.FlushAsync(context);
    }

    private static void WriteEvent(HttpContext context, string? type, ReadOnlyMemory<byte> data)
    {
        var writer = context.Response.BodyWriter;
        if (type is not null)
        {
            writer.Write(Encoding.UTF8.GetBytes($"event: {type}\n"));
        }

        writer.Write("data: "u8);
        writer.Write(data.Span);
        writer.Write("\n\n"u8);
    }
}
