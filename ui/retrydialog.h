#pragma once

#include "orderrecord.h"

#include <QDialog>

class QCheckBox;
class QDialogButtonBox;
class QGroupBox;
class QLabel;
class QLineEdit;

// Asks how to retry a failed order: optionally a corrected payment method and/or
// shipping address. Fields the eligibility requires must be filled before OK.
class RetryDialog : public QDialog
{
    Q_OBJECT
public:
    RetryDialog(const QString &orderNumber, const RetryEligibility &eligibility,
                QWidget *parent = nullptr);

    RetryRequest request(const QUuid &orderId) const;

    QLineEdit *paymentMethodEdit() const { return m_payment; }
    QGroupBox *addressGroup() const { return m_addressGroup; }
    bool isAcceptable() const;

private:
    void updateOk();

    bool m_paymentRequired = false;
    bool m_addressRequired = false;
    QLineEdit *m_payment = nullptr;
    QGroupBox *m_addressGroup = nullptr;
    QLineEdit *m_street = nullptr;
    QLineEdit *m_city = nullptr;
    QLineEdit *m_state = nullptr;
    QLineEdit *m_postalCode = nullptr;
    QLineEdit *m_country = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
};
