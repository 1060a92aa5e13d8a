-- Argo CD health of an orchard ParquetOutput: one Parquet dataset a Spark job wrote, as the orchard
-- controller recorded it (src/controller/desired.ts). src/argocd/health.ts ships this file into
-- argocd-cm. Argo CD runs it in gopher-lua (Lua 5.1) with `obj` set to the object; a script error
-- shows as Unknown, so no field is assumed to exist.

-- Argo CD's sandbox has the string library only where argocd-cm sets useOpenLibs for this kind;
-- without it the check still works, but messages stay whole instead of ending at their first line.
local find = string and string.find
local sub = string and string.sub

local function first_line(text)
  if type(text) ~= "string" then
    return ""
  end
  local newline = find and find(text, "\n", 1, true)
  if newline then
    return sub(text, 1, newline - 1)
  end
  return text
end

local function condition(status, type_name)
  if type(status.conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if type(c) == "table" and c.type == type_name then
      return c
    end
  end
  return nil
end

local function figure(n)
  if type(n) == "number" then
    return tostring(n)
  end
  return "?"
end

local status = obj.status
if type(status) ~= "table" or status.phase == nil then
  return { status = "Progressing", message = "Waiting for the orchard controller to record this output" }
end

-- A status written for an older generation describes an older spec (the controller bumps
-- spec.source.submissionAttempt when the operator retries the job): its phase is not news.
local generation = type(obj.metadata) == "table" and obj.metadata.generation or nil
local observed = status.observedGeneration
if type(generation) == "number" and type(observed) == "number" and observed < generation then
  return {
    status = "Progressing",
    message = "Waiting for the orchard controller to observe generation " .. figure(generation) .. " (status is for generation " .. figure(observed) .. ")",
  }
end

local phase = status.phase
if phase == "Recorded" then
  local files = status.files
  return {
    status = "Healthy",
    message = figure(status.rows) .. " rows in " .. figure(files) .. (files == 1 and " Parquet file" or " Parquet files"),
  }
end

if phase == "Pending" then
  -- JobNotFinished or S3Unavailable: the controller retries either way, so the output is still on its way.
  local recorded = condition(status, "Recorded")
  if recorded ~= nil and type(recorded.message) == "string" then
    return { status = "Progressing", message = first_line(recorded.message) }
  end
  return { status = "Progressing", message = "Waiting for the job to complete" }
end

if phase == "Incomplete" or phase == "Failed" then
  local complete = condition(status, "Complete")
  if complete ~= nil and type(complete.reason) == "string" then
    return { status = "Degraded", message = complete.reason .. ": " .. first_line(complete.message) }
  end
  return { status = "Degraded", message = phase }
end

return { status = "Unknown", message = "ParquetOutput phase " .. tostring(phase) .. " is not known to this health check" }
