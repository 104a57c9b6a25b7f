#pragma once

#include "stepcall.h"

#include <functional>

// The one interface behind which the step services live. Implementations are
// used only in the engine thread; `done` is called exactly once, later (never
// from inside call()), in that thread.
class StepClient
{
public:
    virtual ~StepClient() = default;
    virtual void call(const StepRequest &request, std::function<void(StepOutcome)> done) = 0;
    // Human-readable kind for logs ("simulated", "http://...").
    virtual QString describe() const = 0;
};
