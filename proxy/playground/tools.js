// Example function tools offered with one click, in each client API's shape. Their outputs are typed by hand.

export const EXAMPLE_TOOLS = [
  {
    name: "get_weather",
    description: "The current weather in a city.",
    parameters: {
      type: "object",
      properties: { city: { type: "string", description: "City name, e.g. Paris" } },
      required: ["city"],
    },
  },
  {
    name: "get_time",
    description: "The current time in an IANA time zone.",
    parameters: {
      type: "object",
      properties: { timezone: { type: "string", description: "e.g. Europe/Paris" } },
      required: ["timezone"],
    },
  },
  {
    name: "search_docs",
    description: "Search the project's documentation.",
    parameters: {
      type: "object",
      properties: { query: { type: "string" }, limit: { type: "integer" } },
      required: ["query"],
    },
  },
];

export function toolsFor(api, names) {
  const chosen = EXAMPLE_TOOLS.filter((tool) => names.includes(tool.name));
  if (api === "chat") {
    return chosen.map(({ name, description, parameters }) => ({
      type: "function",
      function: { name, description, parameters },
    }));
  }
  if (api === "messages") {
    return chosen.map(({ name, description, parameters }) => ({ name, description, input_schema: parameters }));
  }
  return chosen.map(({ name, description, parameters }) => ({ type: "function", name, description, parameters }));
}
