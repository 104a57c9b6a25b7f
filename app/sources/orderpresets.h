#pragma once

// Ready-made orders for the new-order dialog and the demo traffic. Each failure
// preset uses the trigger values of ARCHITECTURE.md ("Failure triggers").

#include "orderrecord.h"

#include <QRandomGenerator>
#include <QString>

enum class OrderPreset : quint8 {
    HappyPath,
    OutOfStock,           // productId out-of-stock-product -> INVENTORY_UNAVAILABLE
    DeclinedCard,         // paymentMethodId declined-card -> PAYMENT_DECLINED (retryable)
    Fraud,                // paymentMethodId fraud-card -> FRAUD_DETECTED (not retryable)
    InvalidAddress,       // postalCode 00000 -> INVALID_ADDRESS
    UndeliverableCountry, // country XX -> SHIPPING_UNAVAILABLE
};
constexpr int kOrderPresetCount = 6;

namespace OrderPresets {
QString displayName(OrderPreset preset);
QString expectedOutcome(OrderPreset preset); // one line for the dialog
// A complete, valid request; `random` varies customer, items and amounts.
OrderRequest make(OrderPreset preset, QRandomGenerator *random = nullptr);
} // namespace OrderPresets
