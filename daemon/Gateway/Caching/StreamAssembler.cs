using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using UnifiedLlm.Daemon.Serialization;

namespace UnifiedLlm.Daemon.Gateway.Caching;

/// <summary>
/// Builds the whole response a stream amounts to, chunk by chunk as the chunks pass to the client: per choice its role,
/// text (content or a completion's text, and reasoning), tool calls and finish reason; the stream's id, created, model
/// and system_fingerprint; and its usage.
/// </summary>
internal sealed class StreamAssembler(EndpointKind kind)
{
    private readonly SortedDictionary<int, Choice> choices = [];
    private JsonNode? id;
    private JsonNode? created;
    private JsonNode? model;
    private JsonNode? fingerprint;
    private JsonObject? usage;
    private bool broken;

    public void Add(ReadOnlyMemory<byte> chunk)
    {
        if (broken)
        {
            return;
        }

        try
        {
            if (JsonNode.Parse(chunk.Span) is not JsonObject root || root["error"] is not null)
            {
                broken = true;
                return;
            }

            id ??= root["id"]?.DeepClone();
            created ??= root["created"]?.DeepClone();
            model ??= root["model"]?.DeepClone();
            fingerprint ??= root["system_fingerprint"]?.DeepClone();
            if (root["usage"] is JsonObject u)
            {
                usage = (JsonObject)u.DeepClone();
            }

            if (root["choices"] is JsonArray list)
            {
                foreach (var item in list.OfType<JsonObject>())
                {
                    AddChoice(item);
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            broken = true;
        }
    }

    /// <summary>The answer, or null when the stream is not worth storing: a chunk it could not read, no choices, or a choice without finish_reason.</summary>
    public CachedAnswer? Complete(long estimatedPrompt, long estimatedCompletion)
    {
        if (broken || choices.Count == 0 || choices.Values.Any(c => c.Finish is null))
        {
            return null;
        }

        var chat = kind == EndpointKind.ChatCompletions;
        var root = new JsonObject
        {
            ["id"] = id,
            ["object"] = chat ? "chat.completion" : "text_completion",
            ["created"] = created,
            ["model"] = model,
        };
        if (fingerprint is not null)
        {
            root["system_fingerprint"] = fingerprint;
        }

        root["choices"] = new JsonArray([.. choices.Select(c => chat ? c.Value.ChatChoice(c.Key) : c.Value.TextChoice(c.Key))]);
        root["usage"] = usage ?? CachedAnswer.EstimatedUsage(estimatedPrompt, estimatedCompletion);
        return CachedAnswer.FromBody(kind, NodeJson.Utf8(root), estimatedPrompt, estimatedCompletion);
    }

    private void AddChoice(JsonObject item)
    {
        var index = item["index"] is JsonValue i && i.TryGetValue<int>(out var n) ? n : 0;
        if (!choices.TryGetValue(index, out var choice))
        {
            choices[index] = choice = new Choice();
        }

        if (item["finish_reason"] is JsonValue finish && finish.GetValueKind() == JsonValueKind.String)
        {
            choice.Finish = finish.GetValue<string>();
        }

        if (item["text"] is JsonValue text && text.GetValueKind() == JsonValueKind.String)
        {
            choice.Content ??= new StringBuilder();
            choice.Content.Append(text.GetValue<string>());
        }

        if (item["delta"] is not JsonObject delta)
        {
            return;
        }

        if (delta["role"] is JsonValue role && role.GetValueKind() == JsonValueKind.String)
        {
            choice.Role = role.GetValue<string>();
        }

        if (delta["content"] is JsonValue content && content.GetValueKind() == JsonValueKind.String)
        {
            choice.Content ??= new StringBuilder();
            choice.Content.Append(content.GetValue<string>());
        }

        if (delta["reasoning_content"] is JsonValue reasoning && reasoning.GetValueKind() == JsonValueKind.String)
        {
            choice.Reasoning ??= new StringBuilder();
            choice.Reasoning.Append(reasoning.GetValue<string>());
        }

        if (delta["tool_calls"] is JsonArray calls)
        {
            foreach (var call in calls.OfType<JsonObject>())
            {
                choice.AddToolCall(call);
            }
        }
    }

    private sealed class Choice
    {
        private readonly SortedDictionary<int, ToolCall> toolCalls = [];

        public string Role { get; set; } = "assistant";

        public StringBuilder? Content { get; set; }

        public StringBuilder? Reasoning { get; set; }

        public string? Finish { get; set; }

        public void AddToolCall(JsonObject call)
        {
            var index = call["index"] is JsonValue i && i.TryGetValue<int>(out var n) ? n : toolCalls.Count;
            if (!toolCalls.TryGetValue(index, out var tool))
            {
                toolCalls[index] = tool = new ToolCall();
            }

            tool.Id ??= call["id"]?.GetValue<string>();
            tool.Type ??= call["type"]?.GetValue<string>();
            if (call["function"] is JsonObject function)
            {
                tool.Name ??= function["name"]?.GetValue<string>();
                if (function["arguments"] is JsonValue arguments && arguments.GetValueKind() == JsonValueKind.String)
                {
                    tool.Arguments.Append(arguments.GetValue<string>());
                }
            }
        }

        public JsonObject ChatChoice(int index)
        {
            // OpenAI answers a message that is only tool calls with content null.
            var message = new JsonObject { ["role"] = Role, ["content"] = Content?.ToString() };
            if (Reasoning is not null)
            {
                message["reasoning_content"] = Reasoning.ToString();
            }

            if (toolCalls.Count > 0)
            {
                message["tool_calls"] = new JsonArray([.. toolCalls.Values.Select(t => (JsonNode)new JsonObject
                {
                    ["id"] = t.Id,
                    ["type"] = t.Type ?? "function",
                    ["function"] = new JsonObject { ["name"] = t.Name, ["arguments"] = t.Arguments.ToString() },
                })]);
            }

            return new JsonObject { ["index"] = index, ["message"] = message, ["finish_reason"] = Finish };
        }

        public JsonObject TextChoice(int index) =>
            new() { ["index"] = index, ["text"] = Content?.ToString() ?? "", ["logprobs"] = null, ["finish_reason"] = Finish };
    }

    private sealed class ToolCall
    {
        public string? Id { get; set; }

        public string? Type { get; set; }

        public string? Name { get; set; }

        public StringBuilder Arguments { get; } = new();
    }
}
