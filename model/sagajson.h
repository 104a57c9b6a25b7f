#pragma once

// JSON codecs of the API shapes (seed SAGA-003 and ARCHITECTURE.md). Key names
// are contracts. Timestamps are ISO-8601 UTC with milliseconds
// ("2024-01-10T14:30:00.000Z"). Parsing validates and reports the first problem
// as an error value naming the offending field; it never throws or crashes.

#include "orderevent.h"
#include "orderhistory.h"
#include "orderprogress.h"

#include <QJsonArray>
#include <QJsonObject>
#include <QString>
#include <initializer_list>
#include <optional>

template<typename T>
struct Parsed {
    std::optional<T> value;
    QString field; // JSON path of the offending field, e.g. "steps[1].status"
    QString error; // what is wrong with it
    bool ok() const { return value.has_value(); }
    static Parsed fail(QString f, QString e) { return Parsed{std::nullopt, std::move(f), std::move(e)}; }
};

namespace SagaJson {

// Text every store can keep as it is: PostgreSQL refuses U+0000 in text and in
// jsonb, and an unpaired UTF-16 surrogate has no UTF-8 form (it would come back
// as U+FFFD). textProblem() says what is wrong with `text` (nullptr: nothing);
// storableText() replaces both with U+FFFD and cuts to `maxLength` characters,
// for text from outside that cannot be refused (a step service's answer).
const char *textProblem(QStringView text);
QString storableText(const QString &text, qsizetype maxLength);

// The first key of `o` that is none of `keys` (empty when there is none), and in
// *problem what to say of it: "is not a field of WHAT (KEY, KEY, ...)".
QString unknownField(const QJsonObject &o, std::initializer_list<const char *> keys, const char *what,
                     QString *problem);

QString formatTimestamp(const QDateTime &utc);         // null -> empty string
std::optional<QDateTime> parseTimestamp(QStringView text); // requires a zone designator

// GET /api/orders/{id}/status: orderId, overallStatus, currentStep, lastUpdated,
// estimatedCompletion, steps[name, order, status, startedAt?, completedAt?, errorMessage?]
// plus traceId when not empty. currentStep and estimatedCompletion are null when absent.
QJsonObject statusToJson(const OrderProgress &progress, const QString &traceId = {});
QByteArray statusToBytes(const OrderProgress &progress, const QString &traceId = {});
Parsed<OrderProgress> statusFromJson(const QJsonObject &json);

// One item of GET /api/orders (saga-server's list for the console): the status
// above plus what a console shows of an order it did not see happen: orderNumber,
// customerId, lastSeq, createdAt, attemptNumber, confirmationNumber,
// totalChargedInCents, failure{code, message, step?, compensationIncomplete} and
// steps[].errorCode and steps[].resumedAt (StepProgress::resumedAt). The extras are
// optional when read (an older server).
QJsonObject orderListItemToJson(const OrderProgress &progress);
Parsed<OrderProgress> orderListItemFromJson(const QJsonObject &json);

// The new status an event gives: the step's status for step events, otherwise
// the overall status (read from `after`, the progress once the event applied).
QString newStatusOf(const OrderEvent &event, const OrderProgress &after);

// OrderStatusEvent: orderId, eventType, stepName, newStatus, timestamp, details,
// plus seq (per-order) and position (global, when known).
QJsonObject statusEventToJson(const OrderEvent &event, const QString &newStatus);
Parsed<OrderEvent> statusEventFromJson(const QJsonObject &json);

// GET /api/orders/{id}/events entries: id (= seq), eventType, timestamp, stepName, details.
QJsonObject rawEventToJson(const OrderEvent &event);
// True when, in such entries (in seq order), the latest execution failed on a fault
// injected by hand (Failure Injection panel, PUT /api/simulator/faults: its forward
// STEP_FAILED has details.injected): nothing about the order needs correcting.
bool failedByInjectedFault(const QJsonArray &rawEvents);

// GET /api/orders/{id}/history.
QJsonObject historyToJson(const OrderHistory &history);
Parsed<OrderHistory> historyFromJson(const QJsonObject &json);

} // namespace SagaJson

#include "orderrecord.h"

namespace SagaJson {
// POST /api/orders body. Validates: customerId UUID; items non-empty array (<= 100)
// of {productId non-empty, productName non-empty, quantity 1..1000, unitPriceInCents >= 0};
// paymentMethodId non-empty; shippingAddress with all five fields non-empty; the
// order's total at most 2^53 - 1 cents (exact in JSON).
Parsed<OrderRequest> orderRequestFromJson(const QJsonObject &json);
QJsonObject orderRequestToJson(const OrderRequest &request);
// An order built in this process, checked by the rules saga-server applies to a
// POST body (orderRequestFromJson): ok, or the field and what is wrong with it.
Parsed<OrderRequest> checkOrderRequest(const OrderRequest &request);
// POST /api/orders/{id}/retry body (all optional).
Parsed<RetryRequest> retryRequestFromJson(const QJsonObject &json);
QJsonObject retryRequestToJson(const RetryRequest &request);
QJsonObject shippingAddressToJson(const ShippingAddress &address);
// A retry built in this process, checked by the rules saga-server applies to a
// retry body (retryRequestFromJson): ok, or the field and what is wrong with it.
Parsed<RetryRequest> checkRetryRequest(const RetryRequest &request);
QJsonObject orderRecordToJson(const OrderRecord &order);
Parsed<OrderRecord> orderRecordFromJson(const QJsonObject &json);
QJsonObject eligibilityToJson(const RetryEligibility &e);
Parsed<RetryEligibility> eligibilityFromJson(const QJsonObject &json);
QJsonObject retryAttemptToJson(const RetryAttempt &a);
} // namespace SagaJson
