#pragma once

#include "databaseurl.h"
#include "failurecatalog.h"

#include <QString>
#include <QUrl>

struct EngineConfig {
    DatabaseUrl database = DatabaseUrl::defaultSqlite();
    // Empty: simulated in-process steps. Otherwise the base URL of the step services
    // (inventory, payment, shipping and their compensation endpoints, e.g. WireMock).
    QUrl stepsBaseUrl;
    int stepDelayMs = 0;            // simulated latency per step call
    int retryCooldownSeconds = 30;  // between retries of one order
    int maxRetries = kMaxRetries;   // the history reads its events by the same limit
    QString engineId;               // lease owner; default: host:pid:random
    int leaseSeconds = 30;
    int stepTimeoutMs = 5000;       // HTTP step call timeout
    int stepRetries = 3;            // transport/5xx retries per step call
    int compensationBudgetMs = 60000; // how long a failing compensation is retried
    bool resumeOnStart = true;      // resume non-terminal sagas (and expired leases)
    // Connections committing batches at the same time (each in its own thread).
    // 0: two on PostgreSQL, one on SQLite (a single writer anyway).
    int commitConnections = 0;
    // Test hook: this engine's clock reads this many ms off the true time, as on a
    // host whose clock is wrong (the times it records: event timestamps, updated_at,
    // retry cooldowns). 0 outside tests.
    qint64 clockSkewMs = 0;
};
