using System.Text;
using System.Text.Json.Nodes;

namespace UnifiedLlm.Daemon.Gateway.Responses;

/// <summary>
/// Chat completion chunks → the Responses API's stream events, in the documented order, each with its sequence_number:
/// response.created and response.in_progress first; per output item output_item.added, then for text
/// content_part.added, output_text.delta…, output_text.done, content_part.done, for a function call
/// function_call_arguments.delta…, function_call_arguments.done, then output_item.done; last response.completed (or
/// response.incomplete at the token limit). One per stream: it keeps the stream's state. Pure: no I/O.
/// </summary>
internal sealed class ResponseStream(ResponseDraft draft)
{
    private readonly JsonArray output = [];
    private readonly StringBuilder text = new();
    private int sequence;
    private OpenItem open = OpenItem.None;
    private long openToolIndex = -1;
    private string callId = "";
    private string callName = "";
    private string? finishReason;
    private JsonObject? usage;

    private enum OpenItem
    {
        None,
        Message,
        FunctionCall,
    }

    /// <summary>The final response object, once <see cref="Finish"/> has run.</summary>
    public JsonObject? Final { get; private set; }

    public List<JsonObject> Start() =>
    [
        Event("response.created", new JsonObject { ["response"] = draft.Build("in_progress", [], null) }),
        Event("response.in_progress", new JsonObject { ["response"] = draft.Build("in_progress", [], null) }),
    ];

    public List<JsonObject> Chunk(JsonNode chunk)
    {
        var events = new List<JsonObject>();
        if (chunk["usage"] is JsonObject chunkUsage)
        {
            usage = ResponseDraft.Usage(chunkUsage);
        }

        foreach (var choice in chunk["choices"]?.AsArray() ?? [])
        {
            var delta = choice?["delta"];
            if (Json.Text(delta?["content"]) is { Length: > 0 } content)
            {
                if (open != OpenItem.Message)
                {
                    Close(events);
                    OpenMessage(events);
                }

                text.Append(content);
                events.Add(Event("response.output_text.delta", new JsonObject
                {
                    ["item_id"] = OpenId,
                    ["output_index"] = output.Count,
                    ["content_index"] = 0,
                    ["delta"] = content,
                    ["logprobs"] = new JsonArray(),
                }));
            }

            foreach (var call in delta?["tool_calls"]?.AsArray() ?? [])
            {
                var toolIndex = Json.TryInteger(call?["index"], out var n) ? n : 0;
                if (open != OpenItem.FunctionCall || toolIndex != openToolIndex)
                {
                    Close(events);
                    OpenFunctionCall(events, toolIndex, Json.Text(call?["id"]), Json.Text(call?["function"]?["name"]));
                }

                if (Json.Text(call?["function"]?["arguments"]) is { Length: > 0 } arguments)
                {
                    text.Append(arguments);
                    events.Add(Event("response.function_call_arguments.delta", new JsonObject
                    {
                        ["item_id"] = OpenId,
                        ["output_index"] = output.Count,
                        ["delta"] = arguments,
                    }));
                }
            }

            if (Json.Text(choice?["finish_reason"]) is { } finish)
            {
                finishReason = finish;
            }
        }

        return events;
    }

    /// <summary>Closes the open item and ends the stream with response.completed, or response.incomplete at the token limit.</summary>
    public List<JsonObject> Finish()
    {
        var events = new List<JsonObject>();
        Close(events);
        var incomplete = ResponseDraft.IncompleteReason(finishReason);
        Final = draft.Build(incomplete is null ? "completed" : "incomplete", (JsonArray)output.DeepClone(), usage, incomplete);
        events.Add(Event(incomplete is null ? "response.completed" : "response.incomplete", new JsonObject { ["response"] = Final.DeepClone() }));
        return events;
    }

    /// <summary>The stream failed after it began: response.failed with the error, and the items finished so far.</summary>
    public JsonObject Fail(GatewayException error) =>
        Event("response.failed", new JsonObject { ["response"] = draft.Build("failed", (JsonArray)output.DeepClone(), usage, error: error) });

    private string OpenId => draft.ItemId(open == OpenItem.Message ? "msg" : "fc", output.Count);

    private void OpenMessage(List<JsonObject> events)
    {
        open = OpenItem.Message;
        text.Clear();
        events.Add(Event("response.output_item.added", new JsonObject
        {
            ["output_index"] = output.Count,
            ["item"] = ResponseDraft.MessageItem(OpenId, "", "in_progress"),
        }));
        events.Add(Event("response.content_part.added", new JsonObject
        {
            ["item_id"] = OpenId,
            ["output_index"] = output.Count,
            ["content_index"] = 0,
            ["part"] = ResponseDraft.TextPart(""),
        }));
    }

    private void OpenFunctionCall(List<JsonObject> events, long toolIndex, string? id, string? name)
    {
        open = OpenItem.FunctionCall;
        openToolIndex = toolIndex;
        text.Clear();
        callId = id ?? draft.ItemId("call", output.Count);
        callName = name ?? "";
        events.Add(Event("response.output_item.added", new JsonObject
        {
            ["output_index"] = output.Count,
            ["item"] = ResponseDraft.FunctionCallItem(OpenId, callId, callName, "", "in_progress"),
        }));
    }

    private void Close(List<JsonObject> events)
    {
        if (open == OpenItem.None)
        {
            return;
        }

        var id = OpenId;
        var index = output.Count;
        var value = text.ToString();
        JsonObject item;
        if (open == OpenItem.Message)
        {
            events.Add(Event("response.output_text.done", new JsonObject { ["item_id"] = id, ["output_index"] = index, ["content_index"] = 0, ["text"] = value, ["logprobs"] = new JsonArray() }));
            events.Add(Event("response.content_part.done", new JsonObject { ["item_id"] = id, ["output_index"] = index, ["content_index"] = 0, ["part"] = ResponseDraft.TextPart(value) }));
            item = ResponseDraft.MessageItem(id, value, "completed");
        }
        else
        {
            events.Add(Event("response.function_call_arguments.done", new JsonObject { ["item_id"] = id, ["output_index"] = index, ["name"] = callName, ["arguments"] = value }));
            item = ResponseDraft.FunctionCallItem(id, callId, callName, value, "completed");
        }

        events.Add(Event("response.output_item.done", new JsonObject { ["output_index"] = index, ["item"] = item.DeepClone() }));
        output.Add((JsonNode)item);
        open = OpenItem.None;
        openToolIndex = -1;
    }

    private JsonObject Event(string type, JsonObject fields)
    {
        var result = new JsonObject { ["type"] = type, ["sequence_number"] = sequence++ };
        foreach (var (name, value) in fields.ToList())
        {
            fields.Remove(name);
            result[name] = value;
        }

        return result;
    }
}
