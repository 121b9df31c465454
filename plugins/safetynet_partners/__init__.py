"""Built-in safetynet plugins: the partner organisations (社会力量) that take households' needs.

One module per organisation kind, each registered by its own entry point: ``trade_union`` (总工会),
``youth_league`` (团委), ``womens_federation`` (妇联), ``disabled_federation`` (残联), ``red_cross``
(红十字会), and ``charity``, which reads any number of charities and community foundations (慈善组织,
社区基金会) from a TOML file (``SAFETYNET_CHARITIES``; ``charities.toml`` here is the bundled example).

Need types are codes shared by civil affairs (``publishNeed``) and the partners that take them:

============== =========================================================================
living         基本生活: essential living costs, hardship grants (帮困、慰问)
medical        医疗: medical bills left after insurance and medical aid, escort to hospital
education      助学: school costs, tutoring (学业辅导, 一对一义务家教), art education
employment     就业: job guidance, skills training, job placement (就业指导、能力提升、职业介绍)
housing        住房: home repairs, accessibility and micro-renovation (适老化改造、居室微改造)
care           照料: visits, daily care, respite for carers (探访慰问、日常照料、喘息服务)
psychological  心理: counselling and emotional support (心理疏导、精神抚慰)
rehabilitation 康复: rehabilitation guidance and training for disabled people (康复指导)
assistive      辅具: assistive devices for disabled people (辅助器具适配)
legal          法律: legal aid and rights protection (法律援助、维权)
disaster       受灾: relief after disasters and accidents (应急救灾)
============== =========================================================================

The organisations and programmes are those seed 001 (Changning, 2024-07) names: 区总工会、团区委、区妇联、
区残联、区红十字会 "结合职责共同参与社会救助" (§7), and the services of §5.4. The amounts are
illustrative: replace them with each organisation's published programme for the year.
"""
