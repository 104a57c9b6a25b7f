#pragma once

// How the store spells values in its tables: ids as text (UUID without braces),
// timestamps as milliseconds since the Unix epoch (UTC), statuses as the
// ARCHITECTURE.md names, event details as compact JSON text. Shared by SagaStore
// and BatchPlan (app/store only).

#include "orderevent.h"
#include "sagastatus.h"

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QString>
#include <QUuid>
#include <QVariant>
#include <optional>

namespace StoreText {

QString idText(const QUuid &id);
QDateTime fromMs(const QVariant &v);
// Milliseconds of `dt`; now when `dt` is invalid.
qint64 toMs(const QDateTime &dt);

bool isTerminalOverall(OverallStatus s);
// retry_attempts.outcome of an attempt that ended in `s`.
QString outcomeFor(OverallStatus s);
// saga_executions.status / orders.overall_status
QString overallText(OverallStatus s);
std::optional<OverallStatus> overallFromText(const QString &t);
// orders.status (the order record's own names: PENDING, PROCESSING, ...)
QString recordText(OverallStatus s);
// saga_step_results.status
QString stepStatusText(StepStatus s);

// The same names as UTF-8, for binding without a conversion or a copy: each is
// made once per process and the answer points at it (a QByteArray::fromRawData
// view that stays valid for the process's lifetime).
QByteArray overallUtf8(OverallStatus s);      // overallText
QByteArray stepStatusUtf8(StepStatus s);      // stepStatusText
QByteArray stepNameUtf8(SagaStep s);          // stepDisplayName
QByteArray eventTypeUtf8(EventType t);        // toString(EventType)

// Writes the UTF-8 of `s` at `out`, which has room for utf8Room(s.size()) bytes;
// answers where it ended. (Qt's codec, with its ASCII fast path, into a buffer
// the caller keeps: no QByteArray per value.)
char *writeUtf8(char *out, QStringView s);
constexpr qsizetype utf8Room(qsizetype utf16Units) { return 3 * utf16Units; }
// Compact JSON text (UTF-8) of `o`, appended to `out`: what
// QJsonDocument(o).toJson(QJsonDocument::Compact) writes (keys in the object's
// order, the same escapes), without building a document first. An integral
// number is written as an integer.
void appendJson(QByteArray &out, const QJsonObject &o);
// order_events.details: the event's details with its error (if any) under "error".
QByteArray eventDetailsJson(const OrderEvent &e); // compact JSON, UTF-8
// The reverse, for a stored details text (UTF-8): sets e.details, and e.error from
// its "error" (taken out of the details; no "error": a null error).
void setEventDetails(OrderEvent &e, const QByteArray &json);

} // namespace StoreText
